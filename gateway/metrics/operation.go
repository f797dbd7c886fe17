package metrics

import (
	"net/http"
	"strings"
)

// S3Operation names the S3 operation of a path-style request, as far as
// its method, path, query and copy-source header tell: "PutObject",
// "ListObjectsV2", "CompleteMultipartUpload"... A request that matches
// none is "Unknown", so the label's values stay few whatever clients send.
func S3Operation(r *http.Request) string {
	q := r.URL.Query()
	has := func(k string) bool { _, ok := q[k]; return ok }
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	copySource := r.Header.Get("X-Amz-Copy-Source") != ""
	switch {
	case r.Method == http.MethodOptions && bucket != "":
		// A CORS preflight, of a bucket or an object.
		return "PreflightRequest"
	case bucket == "":
		if r.Method == http.MethodGet {
			return "ListBuckets"
		}
	case key == "":
		return bucketOperation(r.Method, has)
	default:
		return objectOperation(r.Method, has, copySource)
	}
	return "Unknown"
}

func bucketOperation(method string, has func(string) bool) string {
	// The query parameters that select a bucket subresource, and the
	// operation name's suffix for each.
	subresources := [...]struct{ param, name string }{
		{"location", "BucketLocation"},
		{"versioning", "BucketVersioning"},
		{"tagging", "BucketTagging"},
		{"policy", "BucketPolicy"},
		{"acl", "BucketAcl"},
		{"cors", "BucketCors"},
		{"lifecycle", "BucketLifecycleConfiguration"},
		{"encryption", "BucketEncryption"},
		{"object-lock", "ObjectLockConfiguration"},
	}
	for _, s := range subresources {
		if has(s.param) {
			switch method {
			case http.MethodGet:
				return "Get" + s.name
			case http.MethodPut:
				return "Put" + s.name
			case http.MethodDelete:
				return "Delete" + s.name
			}
			return "Unknown"
		}
	}
	switch method {
	case http.MethodGet:
		switch {
		case has("uploads"):
			return "ListMultipartUploads"
		case has("versions"):
			return "ListObjectVersions"
		case has("list-type"):
			return "ListObjectsV2"
		}
		return "ListObjects"
	case http.MethodHead:
		return "HeadBucket"
	case http.MethodPut:
		return "CreateBucket"
	case http.MethodDelete:
		return "DeleteBucket"
	case http.MethodPost:
		if has("delete") {
			return "DeleteObjects"
		}
		return "PostObject"
	}
	return "Unknown"
}

func objectOperation(method string, has func(string) bool, copySource bool) string {
	switch {
	case has("tagging"):
		switch method {
		case http.MethodGet:
			return "GetObjectTagging"
		case http.MethodPut:
			return "PutObjectTagging"
		case http.MethodDelete:
			return "DeleteObjectTagging"
		}
		return "Unknown"
	case has("acl"):
		switch method {
		case http.MethodGet:
			return "GetObjectAcl"
		case http.MethodPut:
			return "PutObjectAcl"
		}
		return "Unknown"
	}
	switch method {
	case http.MethodGet:
		if has("uploadId") {
			return "ListParts"
		}
		return "GetObject"
	case http.MethodHead:
		return "HeadObject"
	case http.MethodPut:
		switch {
		case has("partNumber") && has("uploadId") && copySource:
			return "UploadPartCopy"
		case has("partNumber") && has("uploadId"):
			return "UploadPart"
		case copySource:
			return "CopyObject"
		}
		return "PutObject"
	case http.MethodDelete:
		if has("uploadId") {
			return "AbortMultipartUpload"
		}
		return "DeleteObject"
	case http.MethodPost:
		switch {
		case has("uploads"):
			return "CreateMultipartUpload"
		case has("uploadId"):
			return "CompleteMultipartUpload"
		case has("restore"):
			return "RestoreObject"
		}
	}
	return "Unknown"
}

// WebDAVOperation names a WebDAV request by its method; methods WebDAV
// does not define are "OTHER".
func WebDAVOperation(r *http.Request) string {
	switch r.Method {
	case "OPTIONS", "GET", "HEAD", "PUT", "DELETE", "POST", "MKCOL", "COPY", "MOVE",
		"LOCK", "UNLOCK", "PROPFIND", "PROPPATCH":
		return r.Method
	}
	return "OTHER"
}

// ShareOperation names a request to the share listener: "page" (a link's
// page), "open" (opening a link: a download), "blob" (a part of a shared
// file), "asset" (the page's script and style) or "other".
func ShareOperation(r *http.Request) string {
	rest, ok := strings.CutPrefix(r.URL.Path, "/s/")
	if !ok {
		return "other"
	}
	seg := strings.Split(rest, "/")
	switch {
	case len(seg) == 1 && strings.Contains(seg[0], "."):
		return "asset"
	case len(seg) == 1:
		return "page"
	case len(seg) == 2 && seg[1] == "open":
		return "open"
	case len(seg) == 4 && seg[1] == "f":
		return "blob"
	}
	return "other"
}

// AdminOperation names a request to the admin listener by its route:
// "healthz", "readyz", "metrics", "debug", "run", "shares" or "other".
func AdminOperation(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == "/healthz", p == "/readyz", p == "/metrics":
		return p[1:]
	case strings.HasPrefix(p, "/debug/"):
		return "debug"
	case p == "/api/v1/run":
		return "run"
	case p == "/api/v1/shares" || strings.HasPrefix(p, "/api/v1/shares/"):
		return "shares"
	}
	return "other"
}
