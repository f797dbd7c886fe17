package s3api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/rclone/gofakes3"

	"github.com/twincrypt/twincrypt/backends"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/checksum"
	"github.com/twincrypt/twincrypt/gateway/s3api/sigv4"
)

// QuorumMessage is the message of the 503 ServiceUnavailable answer to a
// change that fewer storage providers than replication.min_writes could
// take.
const QuorumMessage = "Too few storage providers are reachable to store this change on as many as the gateway requires (replication.min_writes); try again later."

// CatalogMessage is the message of the 503 ServiceUnavailable answer to a
// request the catalog (Redis) could not be reached for.
const CatalogMessage = "The gateway's catalog cannot be reached; try again later."

// RetryAfter is the Retry-After of every 503 ServiceUnavailable answer.
const RetryAfter = time.Second

// apiError is an S3 error response the front end writes itself, for codes
// gofakes3 does not know the status of.
type apiError struct {
	Status  int
	Code    string
	Message string
}

// writeOnDeleteMarker returns err with a current delete marker turned
// into the marker named by its version ID. S3 answers a write on a key
// whose current version is a delete marker (PutObjectAcl,
// PutObjectTagging, DeleteObjectTagging) as one on the marker itself: 405
// MethodNotAllowed, where a read (GetObject, GetObjectAcl,
// GetObjectTagging) is 404 NoSuchKey; both carry x-amz-delete-marker and
// the marker's x-amz-version-id. Any other err is returned as it is.
func writeOnDeleteMarker(err error) error {
	var dm *gateway.DeleteMarkerError
	if errors.As(err, &dm) && dm.Current {
		return &gateway.DeleteMarkerError{Bucket: dm.Bucket, Key: dm.Key, VersionID: dm.VersionID}
	}
	return err
}

// s3Error maps a namespace error to the S3 error gofakes3 should answer
// with. Errors whose status gofakes3 cannot express are recorded in the
// request state and written by the fixer instead.
func s3Error(ctx context.Context, err error, bucket, key string) error {
	if err == nil {
		return nil
	}
	if e, ok := bodyError(err); ok {
		if st := stateFrom(ctx); st != nil {
			st.override = e
		}
		return gofakes3.ErrorMessage(gofakes3.ErrorCode(e.Code), e.Message)
	}
	var dm *gateway.DeleteMarkerError
	if errors.As(err, &dm) {
		if st := stateFrom(ctx); st != nil {
			st.setHeader(hdrDeleteMarker, "true")
			st.setHeader(hdrVersionID, dm.VersionID)
		}
		if dm.Current {
			return gofakes3.KeyNotFound(key)
		}
		return override(ctx, http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
	}
	var ce *checksum.Error
	switch {
	case errors.As(err, &ce):
		e := checksumAPIError(ce)
		return override(ctx, e.Status, e.Code, e.Message)
	case errors.Is(err, gateway.ErrNoSuchVersion):
		return override(ctx, http.StatusNotFound, "NoSuchVersion", "The specified version does not exist.")
	case errors.Is(err, gateway.ErrInvalidVersionID):
		return override(ctx, http.StatusBadRequest, "InvalidArgument", "Invalid version id specified")
	case errors.Is(err, gateway.ErrObjectLocked):
		return override(ctx, http.StatusForbidden, "AccessDenied", "Access Denied because object protected by object lock.")
	case errors.Is(err, gateway.ErrNoLockConfig):
		return override(ctx, http.StatusBadRequest, "InvalidRequest", "Bucket is missing Object Lock Configuration")
	case errors.Is(err, gateway.ErrInvalidLock):
		return override(ctx, http.StatusBadRequest, "InvalidArgument", "The retain until date must be in the future!")
	case errors.Is(err, gateway.ErrNoSuchBucket):
		return gofakes3.BucketNotFound(bucket)
	case errors.Is(err, gateway.ErrNoSuchKey):
		return gofakes3.KeyNotFound(key)
	case errors.Is(err, gateway.ErrAccessDenied):
		return override(ctx, http.StatusForbidden, "AccessDenied", "Access Denied")
	case errors.Is(err, gateway.ErrBucketOwnedByYou):
		return override(ctx, http.StatusConflict, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.")
	case errors.Is(err, gateway.ErrBucketExists):
		return override(ctx, http.StatusConflict, "BucketAlreadyExists", "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.")
	case errors.Is(err, gateway.ErrBucketNotEmpty):
		return gofakes3.ResourceError(gofakes3.ErrBucketNotEmpty, bucket)
	case errors.Is(err, gateway.ErrInvalidBucketName):
		return gofakes3.ResourceError(gofakes3.ErrInvalidBucketName, bucket)
	case errors.Is(err, gateway.ErrKeyTooLong):
		return gofakes3.ResourceError(gofakes3.ErrKeyTooLong, key)
	case errors.Is(err, gateway.ErrInvalidKey):
		return gofakes3.ErrorMessage(gofakes3.ErrInvalidArgument, err.Error())
	case errors.Is(err, gateway.ErrInvalidRange):
		return gofakes3.ErrInvalidRange
	case errors.Is(err, gateway.ErrNoSuchUpload):
		return gofakes3.ErrNoSuchUpload
	case errors.Is(err, gateway.ErrInvalidPartOrder):
		return gofakes3.ErrInvalidPartOrder
	case errors.Is(err, gateway.ErrInvalidPart):
		return gofakes3.ErrorMessage(gofakes3.ErrInvalidPart, err.Error())
	case errors.Is(err, gateway.ErrEntityTooSmall):
		return override(ctx, http.StatusBadRequest, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.")
	case errors.Is(err, gateway.ErrIncompleteBody):
		return gofakes3.ErrIncompleteBody
	case errors.Is(err, gateway.ErrPrecondition):
		return gofakes3.ErrPreconditionFailed
	case errors.Is(err, gateway.ErrObjectChanged):
		return override(ctx, http.StatusServiceUnavailable, "ServiceUnavailable", "The object changed while it was read; try again.")
	case errors.Is(err, gateway.ErrCatalogUnavailable):
		logFrom(ctx).Error("catalog unavailable: answering 503", "bucket", bucket, "key", key, "err", err)
		return override(ctx, http.StatusServiceUnavailable, "ServiceUnavailable", CatalogMessage)
	case errors.Is(err, backends.ErrQuorum):
		logFrom(ctx).Error("write quorum not met", "bucket", bucket, "key", key, "err", err)
		return override(ctx, http.StatusServiceUnavailable, "ServiceUnavailable", QuorumMessage)
	case errors.Is(err, backends.ErrUnavailable):
		logFrom(ctx).Error("storage unavailable", "bucket", bucket, "key", key, "err", err)
		return override(ctx, http.StatusServiceUnavailable, "ServiceUnavailable", "The storage providers could not be reached; try again.")
	case errors.Is(err, context.Canceled):
		return override(ctx, 499, "RequestCanceled", "The request was canceled.")
	}
	logFrom(ctx).Error("request failed", "bucket", bucket, "key", key, "err", err)
	return gofakes3.ErrInternal
}

// override records an error response for the fixer and returns a stand-in
// for gofakes3.
func override(ctx context.Context, status int, code, msg string) error {
	if st := stateFrom(ctx); st != nil {
		st.override = &apiError{Status: status, Code: code, Message: msg}
	}
	return gofakes3.ErrorMessage(gofakes3.ErrorCode(code), msg)
}

func logFrom(ctx context.Context) *slog.Logger {
	if st := stateFrom(ctx); st != nil && st.log != nil {
		return st.log
	}
	return slog.New(slog.DiscardHandler)
}

// bodyError reports whether err comes from verifying the request body
// (payload hash, chunk signature, Content-MD5, checksum, truncation) and
// returns the S3 error to answer with.
func bodyError(err error) (*apiError, bool) {
	var e *sigv4.Error
	if !errors.As(err, &e) {
		return nil, false
	}
	return &apiError{Status: e.Status, Code: e.Code, Message: e.Message}, true
}
