package sigv4

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// S3 error codes returned by this package.
const (
	CodeAccessDenied                  = "AccessDenied"
	CodeInvalidAccessKeyID            = "InvalidAccessKeyId"
	CodeSignatureDoesNotMatch         = "SignatureDoesNotMatch"
	CodeAuthorizationHeaderMalformed  = "AuthorizationHeaderMalformed"
	CodeAuthorizationQueryParamsError = "AuthorizationQueryParametersError"
	CodeRequestTimeTooSkewed          = "RequestTimeTooSkewed"
	CodeInvalidRequest                = "InvalidRequest"
	CodeInvalidArgument               = "InvalidArgument"
	CodeInvalidURI                    = "InvalidURI"
	CodeXAmzContentSHA256Mismatch     = "XAmzContentSHA256Mismatch"
	CodeBadDigest                     = "BadDigest"
	CodeInvalidDigest                 = "InvalidDigest"
	CodeIncompleteBody                = "IncompleteBody"
	CodeMissingContentLength          = "MissingContentLength"
	CodeInvalidChunkSize              = "InvalidChunkSizeError"
	CodeMalformedTrailer              = "MalformedTrailerError"
	CodeNotImplemented                = "NotImplemented"
	CodeInternalError                 = "InternalError"
)

// Error is an S3 error: the code, HTTP status and message that the S3
// front end sends in its XML error response.
//
// Request verification failures are returned as *Error, and so are the
// errors that a verified request body's Read returns when the body does not
// match what the client declared (payload hash, chunk signature, checksum,
// length). Use [AsError] to find one in a wrapped error chain.
type Error struct {
	// Code is the S3 error code, such as "SignatureDoesNotMatch".
	Code string
	// Status is the HTTP status code of the response.
	Status int
	// Message is the human-readable message of the response.
	Message string
	// Extra holds additional elements of the XML error document, in
	// order, such as StringToSign for SignatureDoesNotMatch or ServerTime
	// for RequestTimeTooSkewed. It never holds secrets.
	Extra []Element
	// Err is the underlying cause, if any; it is not sent to the client.
	Err error
}

// Element is one additional element of an S3 XML error document.
type Element struct {
	Name  string
	Value string
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("s3 %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("s3 %s: %s", e.Code, e.Message)
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, &sigv4.Error{Code: sigv4.CodeBadDigest}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func newError(code string, status int, msg string) *Error {
	return &Error{Code: code, Status: status, Message: msg}
}

func (e *Error) with(name, value string) *Error {
	e.Extra = append(e.Extra, Element{Name: name, Value: value})
	return e
}

func (e *Error) wrap(err error) *Error {
	e.Err = err
	return e
}

// AsError returns the first *Error in err's chain, if there is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// ErrorFor returns the *Error in err's chain, or, when there is none,
// an InternalError wrapping err. It is the helper that the S3 front end
// uses to turn a failed request body read into a response.
func ErrorFor(err error) *Error {
	if e, ok := AsError(err); ok {
		return e
	}
	return newError(CodeInternalError, http.StatusInternalServerError,
		"We encountered an internal error. Please try again.").wrap(err)
}

// RequestIDHeader is the response header that carries the request ID,
// which is repeated in the RequestId element of error responses.
const RequestIDHeader = "X-Amz-Request-Id"

// WriteError writes e as an S3 XML error response. The RequestId element
// is the response's x-amz-request-id header; if that is not set yet, a
// random ID is generated and set. HEAD requests get the status only.
func WriteError(w http.ResponseWriter, r *http.Request, e *Error) {
	h := w.Header()
	id := h.Get(RequestIDHeader)
	if id == "" {
		id = newRequestID()
		h.Set(RequestIDHeader, id)
	}
	status := e.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if r != nil && r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	body := encodeError(e, id)
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// encodeError renders the XML error document.
func encodeError(e *Error, requestID string) []byte {
	type element struct {
		XMLName xml.Name
		Value   string `xml:",chardata"`
	}
	doc := struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string
		Message   string
		Extra     []element
		RequestID string `xml:"RequestId"`
	}{Code: e.Code, Message: e.Message, RequestID: requestID}
	for _, x := range e.Extra {
		doc.Extra = append(doc.Extra, element{XMLName: xml.Name{Local: x.Name}, Value: x.Value})
	}
	out, err := xml.Marshal(doc)
	if err != nil {
		// Only element names are variable and they are constants of this
		// package; fall back to a minimal document all the same.
		out = []byte("<Error><Code>" + CodeInternalError + "</Code></Error>")
	}
	return append([]byte(xml.Header), out...)
}

func newRequestID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return strconv.FormatInt(time.Now().UnixNano(), 16)
	}
	return strings.ToUpper(hex.EncodeToString(b[:]))
}
