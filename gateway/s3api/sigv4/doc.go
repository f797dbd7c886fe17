// Package sigv4 authenticates S3 requests signed with AWS Signature
// Version 4 and verifies their bodies while they stream.
//
// The S3 front end wraps gofakes3's handler with [Verifier.Middleware] and
// does not give gofakes3 any keys, so gofakes3's own (weaker) checks are
// off. The middleware is the only authentication of the S3 API.
//
// # Authentication
//
// Both the Authorization header (AWS4-HMAC-SHA256) and presigned URLs
// (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires,
// X-Amz-SignedHeaders, X-Amz-Signature) are verified by rebuilding the
// canonical request:
//
//   - the URI is the decoded path encoded once with UriEncode ('/' kept),
//     as S3 does: no double encoding, no dot-segment normalisation;
//   - query names and values are decoded ('+' is a space), UriEncoded and
//     sorted by name then value; X-Amz-Signature is left out of presigned
//     requests;
//   - signed headers are listed lower case and sorted, multiple values are
//     joined with ',' and each is trimmed with runs of white space folded;
//     Host, Transfer-Encoding and Content-Length are taken from where Go's
//     server moves them;
//   - the payload hash is the x-amz-content-sha256 header, which header
//     authentication requires; presigned URLs sign UNSIGNED-PAYLOAD unless
//     they carry an X-Amz-Content-Sha256 parameter, which must then be
//     UNSIGNED-PAYLOAD or a hex SHA-256 that the body must match like the
//     header (400 AuthorizationQueryParametersError otherwise).
//
// Host must be signed, and so must every x-amz-* header present (otherwise
// an unsigned x-amz-copy-source could be added to a presigned PUT); a Date
// header used instead of X-Amz-Date must be signed too. The credential
// scope must be date/region/s3/aws4_request with the date of the request.
// Any region is accepted, since clients default to us-east-1 and a
// self-hosted gateway has no region of its own; chunk and trailer
// signatures are chained under the same scope as the seed signature, so a
// request is always consistent with itself. [WithRegion] pins the region.
// Signatures are compared in constant time; secrets are never logged or
// returned. Failures:
//
//	no credentials                          403 AccessDenied
//	unknown access key                      403 InvalidAccessKeyId
//	wrong signature (request or chunk)      403 SignatureDoesNotMatch (with StringToSign, CanonicalRequest)
//	x-amz-* header not signed               403 AccessDenied (HeadersNotSigned)
//	time more than 15 min off               403 RequestTimeTooSkewed
//	presigned URL expired / not yet valid   403 AccessDenied "Request has expired"
//	malformed Authorization header          400 AuthorizationHeaderMalformed
//	malformed presigned parameters          400 AuthorizationQueryParametersError (X-Amz-Expires > 604800 too)
//	Signature Version 2 (header or query)   400 InvalidRequest "...Please use AWS4-HMAC-SHA256."
//	Signature Version 4A                    501 NotImplemented
//	both header and query authentication    400 InvalidArgument
//
// Of these, an unknown access key and a wrong signature are guesses
// ([Error.Guess]). Every front end that authenticates with this package
// (the S3 front end and the admin API) logs and counts them against the
// client address in the shared login throttle of package guard with the
// hook [LoginFailures], and refuses signed requests from a throttled
// address before checking them with [Throttle].
//
// # Bodies
//
// The next handler gets a body that checks, while it is read, everything
// the client declared about it, and fails with an *[Error] instead of
// io.EOF when the body does not match:
//
//	x-amz-content-sha256: <hex>             SHA-256 of the body   400 XAmzContentSHA256Mismatch
//	X-Amz-Content-Sha256=<hex> (presigned)  SHA-256 of the body   400 XAmzContentSHA256Mismatch
//	Content-MD5                             MD5 of the body       400 BadDigest (400 InvalidDigest if malformed)
//	x-amz-checksum-<alg> on PUT and POST    the checksum          400 BadDigest (as AWS and gofakes3 name it)
//	body shorter than its length            -                     400 IncompleteBody
//
// Checksum algorithms: crc32, crc32c, crc64nvme, sha1, sha256. The
// x-amz-checksum-<alg> headers of CompleteMultipartUpload (the checksum of
// the whole object) and of copies are not checksums of the body and are
// left alone.
//
// All checks run in the Read that returns the last byte of the body, not in
// a later Read: gofakes3 reads at most Content-Length bytes through
// io.LimitReader and never reads to io.EOF itself. If a check fails, that
// Read returns no data and the error, so a consumer that aborts on a read
// error stores nothing and never sees the unverified tail of a body. An
// empty body is checked before the next handler runs. The S3 front end's
// backend must abort (and store nothing) when a body Read fails; gofakes3
// passes the error up as a plain error and would answer 500 InternalError,
// so the middleware also replaces the response with the body's *Error if
// the body failed before the response header is written. [ErrorFor] and
// [WriteError] turn any body error into the S3 response for other callers.
//
// # aws-chunked bodies
//
// This package, not gofakes3, decodes aws-chunked bodies, for all three
// modes of x-amz-content-sha256:
//
//   - STREAMING-AWS4-HMAC-SHA256-PAYLOAD: every chunk signature is verified,
//     chained from the seed signature, before any byte of the chunk is
//     released, so a signed chunk is held in memory; chunks larger than
//     [DefaultMaxChunkSize] (1 MiB, see [WithMaxChunkSize]) are refused with
//     400 InvalidChunkSizeError;
//   - STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: the same, then the
//     trailer signature (x-amz-trailer-signature) and the trailing
//     checksum;
//   - STREAMING-UNSIGNED-PAYLOAD-TRAILER: chunks are streamed without
//     buffering, then the trailing checksum is verified.
//
// x-amz-decoded-content-length is required (411 MissingContentLength
// otherwise); the chunks must add up to exactly that length, the final
// zero-length chunk must follow and nothing but the declared trailer
// (x-amz-trailer names one x-amz-checksum-<alg>) may come after it. Chunk
// header and trailer lines are limited to 4 KiB and the trailer to 16 KiB.
// Both the CRLF and bare LF line endings that clients write in trailers are
// accepted.
//
// After decoding, the request passed on no longer looks aws-chunked, so
// nothing is decoded twice: x-amz-content-sha256 becomes UNSIGNED-PAYLOAD
// (its content was verified here), Content-Length and r.ContentLength
// become the decoded length, Transfer-Encoding is cleared,
// x-amz-decoded-content-length and x-amz-trailer are removed, the
// aws-chunked token is removed from Content-Encoding (the header is removed
// if nothing is left), and x-amz-checksum-algorithm is removed when the
// checksum came in the trailer. The checksum a body declares, in an
// x-amz-checksum-<alg> header or the trailer, is available to the next
// handler through [Checksum] once the body has been read and verified, so
// that it can store it without hashing the body again.
//
// The next handler finds the request's [Identity] (access key, region,
// presigned or not) with [IdentityFromContext], for example to make
// multipart uploads private to their owner.
package sigv4
