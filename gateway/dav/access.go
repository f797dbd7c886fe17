package dav

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/twincrypt/twincrypt/gateway"
)

// authorize refuses, with 403 Forbidden, a request whose user may not do
// what its method does to the buckets it names: GET, HEAD and PROPFIND
// need read access to the bucket; every other method but OPTIONS needs
// write access, and COPY and MOVE to the bucket of their Destination as
// well (COPY reads its source). The namespace checks each operation again;
// this answers before x/net/webdav starts one, so that no method (LOCK of
// an existing file, say) slips past. A bucket that does not exist passes,
// so that the method answers as it would.
func authorize(ns *gateway.Namespace, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		src := parse(r.URL.Path)
		need := gateway.AccessWrite
		switch r.Method {
		case http.MethodOptions:
			need = gateway.AccessNone
		case http.MethodGet, http.MethodHead, "PROPFIND", "COPY":
			need = gateway.AccessRead
		}
		var err error
		if need > gateway.AccessNone && src.bucket != "" {
			err = ns.Authorize(ctx, src.bucket, need)
		}
		if dest := r.Header.Get("Destination"); err == nil && dest != "" && (r.Method == "COPY" || r.Method == "MOVE") {
			if u, perr := url.Parse(dest); perr == nil {
				if d := parse(u.Path); d.bucket != "" {
					err = ns.Authorize(ctx, d.bucket, gateway.AccessWrite)
				}
			}
		}
		if errors.Is(err, gateway.ErrAccessDenied) {
			http.Error(w, "access denied: "+src.bucket, http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
