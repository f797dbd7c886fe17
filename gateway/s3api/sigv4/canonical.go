package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	algorithm       = "AWS4-HMAC-SHA256"
	iso8601         = "20060102T150405Z"
	yyyymmdd        = "20060102"
	service         = "s3"
	terminator      = "aws4_request"
	unsignedPayload = "UNSIGNED-PAYLOAD"
	emptySHA256     = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// uriEncode encodes s as the SigV4 UriEncode function does: every byte
// except the unreserved characters A-Z a-z 0-9 - . _ ~ is percent-encoded
// with upper-case hex digits; '/' is kept when keepSlash is set.
func uriEncode(s string, keepSlash bool) string {
	const hexdigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', keepSlash && c == '/':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexdigits[c>>4])
			b.WriteByte(hexdigits[c&15])
		}
	}
	return b.String()
}

// canonicalURI returns the canonical URI of a request path: the decoded
// path encoded once, as S3 does (S3 does not normalise the path and does
// not encode it twice).
func canonicalURI(r *http.Request) string {
	p := r.URL.Path
	if p == "" {
		return "/"
	}
	return uriEncode(p, true)
}

// canonicalQuery returns the canonical query string of rawQuery without
// the parameter named skip (X-Amz-Signature for presigned requests). Each
// name and value is decoded ('+' is a space) and encoded with UriEncode;
// the pairs are sorted by name, then value.
func canonicalQuery(rawQuery, skip string) (string, error) {
	if rawQuery == "" {
		return "", nil
	}
	type pair struct{ k, v string }
	var pairs []pair
	for _, part := range strings.Split(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			return "", err
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return "", err
		}
		if skip != "" && dk == skip {
			continue
		}
		pairs = append(pairs, pair{uriEncode(dk, false), uriEncode(dv, false)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String(), nil
}

// trimAll trims a header value and folds each run of white space into one
// space (the SigV4 Trimall function).
func trimAll(v string) string {
	return strings.Join(strings.Fields(v), " ")
}

// headerValues returns the values of the signed header name (lower case)
// as the client sent them. The Go server moves Host and Transfer-Encoding
// out of the header map, and the value of Content-Length may only be in
// the request's ContentLength.
func headerValues(r *http.Request, name string) []string {
	switch name {
	case "host":
		return []string{r.Host}
	case "transfer-encoding":
		if len(r.TransferEncoding) > 0 {
			return r.TransferEncoding
		}
	case "content-length":
		if v := r.Header.Values("Content-Length"); len(v) > 0 {
			return v
		}
		if r.ContentLength >= 0 && len(r.TransferEncoding) == 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
		return nil
	}
	return r.Header.Values(name)
}

// canonicalHeaders returns the canonical headers block for the signed
// header names, in the order given: "name:value\n" for each, with multiple
// values joined by commas.
func canonicalHeaders(r *http.Request, signed []string) string {
	var b strings.Builder
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range headerValues(r, name) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(trimAll(v))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// canonicalRequest assembles the canonical request.
func canonicalRequest(r *http.Request, query string, signed []string, payloadHash string) string {
	return strings.Join([]string{
		r.Method,
		canonicalURI(r),
		query,
		canonicalHeaders(r, signed),
		strings.Join(signed, ";"),
		payloadHash,
	}, "\n")
}

// scope is the credential scope of a signature.
type scope struct {
	date   string // YYYYMMDD
	region string
}

func (s scope) String() string {
	return s.date + "/" + s.region + "/" + service + "/" + terminator
}

// stringToSign builds the string to sign of a request signature.
func stringToSign(t time.Time, sc scope, canonical string) string {
	h := sha256.Sum256([]byte(canonical))
	return algorithm + "\n" + t.UTC().Format(iso8601) + "\n" + sc.String() + "\n" + hex.EncodeToString(h[:])
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// signingKey derives the SigV4 signing key for secret and scope.
func signingKey(secret string, sc scope) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), sc.date)
	k = hmacSHA256(k, sc.region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, terminator)
}

// sign returns the hex signature of sts under key.
func sign(key []byte, sts string) string {
	return hex.EncodeToString(hmacSHA256(key, sts))
}

// signatureEqual compares two hex signatures in constant time.
func signatureEqual(computed, provided string) bool {
	return hmac.Equal([]byte(computed), []byte(provided))
}
