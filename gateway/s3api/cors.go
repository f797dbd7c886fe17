package s3api

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twincrypt/twincrypt/gateway"
)

// Limits on CORS configurations, as on S3.
const (
	maxCORSRules = 100
	// maxCORSBody bounds the XML body of PutBucketCors (64 KB on S3).
	maxCORSBody = 64 << 10
	// corsTTL is how long the rules of a bucket are kept in memory for
	// preflights and CORS response headers; a change made through this
	// gateway takes effect at once, one made through another after at
	// most this long.
	corsTTL = 5 * time.Second
	// maxCORSCached bounds the buckets whose rules are kept.
	maxCORSCached = 1000
)

// corsMethods are the methods a CORS rule may allow.
var corsMethods = map[string]bool{"GET": true, "PUT": true, "POST": true, "DELETE": true, "HEAD": true}

// corsVary is the Vary header of answers that depend on a bucket's rules.
const corsVary = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

// corsRuleXML is one CORSRule element.
type corsRuleXML struct {
	ID             string   `xml:"ID,omitempty"`
	AllowedHeaders []string `xml:"AllowedHeader"`
	AllowedMethods []string `xml:"AllowedMethod"`
	AllowedOrigins []string `xml:"AllowedOrigin"`
	ExposeHeaders  []string `xml:"ExposeHeader"`
	MaxAgeSeconds  *int     `xml:"MaxAgeSeconds"`
}

// corsConfiguration is the body of PutBucketCors and the answer to
// GetBucketCors.
type corsConfiguration struct {
	XMLName xml.Name      `xml:"CORSConfiguration"`
	Xmlns   string        `xml:"xmlns,attr,omitempty"`
	Rules   []corsRuleXML `xml:"CORSRule"`
}

// methodNotAllowed is S3's answer to a method a sub-resource does not take.
func methodNotAllowed() *apiError {
	return &apiError{Status: http.StatusMethodNotAllowed, Code: "MethodNotAllowed",
		Message: "The specified method is not allowed against this resource."}
}

// malformedXML is S3's answer to a body that is not the XML it expects.
func malformedXML() *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "MalformedXML",
		Message: "The XML you provided was not well-formed or did not validate against our published schema"}
}

func invalidRequest(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "InvalidRequest", Message: msg}
}

// oneWildcard reports whether s has at most one '*'.
func oneWildcard(s string) bool { return strings.Count(s, "*") <= 1 }

// parseCORS checks a PutBucketCors body against S3's rules and returns
// its rules.
func parseCORS(body []byte) ([]gateway.CORSRule, *apiError) {
	var in corsConfiguration
	if err := xml.Unmarshal(body, &in); err != nil || in.XMLName.Local != "CORSConfiguration" || len(in.Rules) == 0 {
		return nil, malformedXML()
	}
	if len(in.Rules) > maxCORSRules {
		return nil, invalidRequest(fmt.Sprintf("The number of CORS rules should not exceed allowed limit of %d rules.", maxCORSRules))
	}
	rules := make([]gateway.CORSRule, 0, len(in.Rules))
	for _, r := range in.Rules {
		if len(r.AllowedMethods) == 0 || len(r.AllowedOrigins) == 0 {
			return nil, malformedXML()
		}
		if len(r.ID) > 255 {
			return nil, invalidRequest("The ID of a CORS rule cannot be longer than 255 characters.")
		}
		for _, m := range r.AllowedMethods {
			if !corsMethods[m] {
				return nil, invalidRequest("Found unsupported HTTP method in CORS config. Unsupported method is " + m)
			}
		}
		for _, o := range r.AllowedOrigins {
			if !oneWildcard(o) {
				return nil, invalidRequest(fmt.Sprintf("AllowedOrigin %q can not have more than one wildcard.", o))
			}
		}
		for _, h := range r.AllowedHeaders {
			if !oneWildcard(h) {
				return nil, invalidRequest(fmt.Sprintf("AllowedHeader %q can not have more than one wildcard.", h))
			}
		}
		if r.MaxAgeSeconds != nil && *r.MaxAgeSeconds < 0 {
			return nil, malformedXML()
		}
		rules = append(rules, gateway.CORSRule{ID: r.ID, AllowedOrigins: r.AllowedOrigins, AllowedMethods: r.AllowedMethods,
			AllowedHeaders: r.AllowedHeaders, ExposeHeaders: r.ExposeHeaders, MaxAgeSeconds: r.MaxAgeSeconds})
	}
	return rules, nil
}

// corsXML returns the GetBucketCors answer for rules.
func corsXML(rules []gateway.CORSRule) []byte {
	out := corsConfiguration{Xmlns: "http://s3.amazonaws.com/doc/2006-03-01/"}
	for _, r := range rules {
		out.Rules = append(out.Rules, corsRuleXML{ID: r.ID, AllowedHeaders: r.AllowedHeaders, AllowedMethods: r.AllowedMethods,
			AllowedOrigins: r.AllowedOrigins, ExposeHeaders: r.ExposeHeaders, MaxAgeSeconds: r.MaxAgeSeconds})
	}
	b, _ := xml.Marshal(out)
	return append([]byte(xml.Header), b...)
}

// bucketCORS answers GetBucketCors, PutBucketCors and DeleteBucketCors.
// The rules live in the bucket's sealed record.
func bucketCORS(ns *gateway.Namespace, cache *corsCache, w http.ResponseWriter, r *http.Request, bucket string) {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		rules, err := ns.BucketCORS(ctx, bucket)
		if err != nil {
			writeNSError(w, r, err, bucket, "")
			return
		}
		if len(rules) == 0 {
			writeError(w, r, &apiError{Status: http.StatusNotFound, Code: "NoSuchCORSConfiguration", Message: "The CORS configuration does not exist"})
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusOK)
		w.Write(corsXML(rules))
	case http.MethodPut:
		body, err := io.ReadAll(io.LimitReader(r.Body, maxCORSBody+1))
		if err != nil {
			// A body that failed verification: the sigv4
			// middleware replaces this answer with the body's error.
			writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "IncompleteBody", Message: err.Error()})
			return
		}
		if len(body) > maxCORSBody {
			writeError(w, r, malformedXML())
			return
		}
		rules, e := parseCORS(body)
		if e != nil {
			writeError(w, r, e)
			return
		}
		err = ns.SetBucketCORS(ctx, bucket, rules)
		cache.forget(bucket)
		if err != nil {
			writeNSError(w, r, err, bucket, "")
			return
		}
		w.WriteHeader(http.StatusOK)
	case http.MethodDelete:
		err := ns.SetBucketCORS(ctx, bucket, nil)
		cache.forget(bucket)
		if err != nil {
			writeNSError(w, r, err, bucket, "")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, r, methodNotAllowed())
	}
}

// corsCache keeps the rules of recently used buckets for a short while,
// so that preflights, which come without credentials, and the CORS
// headers of responses do not each read a bucket record from a provider.
type corsCache struct {
	ns  *gateway.Namespace
	now func() time.Time
	mu  sync.Mutex
	m   map[string]corsEntry
}

type corsEntry struct {
	rules []gateway.CORSRule
	at    time.Time
}

func newCORSCache(ns *gateway.Namespace) *corsCache {
	return &corsCache{ns: ns, now: time.Now, m: make(map[string]corsEntry)}
}

// rules returns the CORS rules of bucket, nil for a bucket without rules
// or one that does not exist.
func (c *corsCache) rules(ctx context.Context, bucket string) ([]gateway.CORSRule, error) {
	c.mu.Lock()
	e, ok := c.m[bucket]
	c.mu.Unlock()
	if ok && c.now().Sub(e.at) < corsTTL {
		return e.rules, nil
	}
	// The rules answer preflights without credentials, for anyone: they
	// are read, and cached, as no user in particular.
	rules, err := c.ns.BucketCORS(gateway.WithUser(ctx, nil), bucket)
	if err != nil {
		if errors.Is(err, gateway.ErrNoSuchBucket) || errors.Is(err, gateway.ErrInvalidBucketName) {
			return nil, nil
		}
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= maxCORSCached {
		clear(c.m)
	}
	c.m[bucket] = corsEntry{rules: rules, at: c.now()}
	c.mu.Unlock()
	return rules, nil
}

// forget drops the cached rules of bucket after a change.
func (c *corsCache) forget(bucket string) {
	c.mu.Lock()
	delete(c.m, bucket)
	c.mu.Unlock()
}

// wildcardMatch reports whether s matches pattern, which may hold one
// '*' standing for any run of characters.
func wildcardMatch(pattern, s string) bool {
	before, after, found := strings.Cut(pattern, "*")
	if !found {
		return pattern == s
	}
	return len(s) >= len(before)+len(after) && strings.HasPrefix(s, before) && strings.HasSuffix(s, after)
}

// matchRule returns the first rule that allows origin to use method with
// the request headers headers (lower case), and the allowed origin that
// matched.
func matchRule(rules []gateway.CORSRule, origin, method string, headers []string) (*gateway.CORSRule, string) {
	for i := range rules {
		r := &rules[i]
		var allowed string
		for _, o := range r.AllowedOrigins {
			if wildcardMatch(o, origin) {
				allowed = o
				break
			}
		}
		if allowed == "" {
			continue
		}
		okMethod := false
		for _, m := range r.AllowedMethods {
			if m == method {
				okMethod = true
			}
		}
		if !okMethod {
			continue
		}
		okHeaders := true
		for _, h := range headers {
			found := false
			for _, a := range r.AllowedHeaders {
				if wildcardMatch(strings.ToLower(a), h) {
					found = true
					break
				}
			}
			if !found {
				okHeaders = false
				break
			}
		}
		if okHeaders {
			return r, allowed
		}
	}
	return nil, ""
}

// setCORSHeaders sets the headers by which rule r, matched through the
// allowed origin allowed, lets origin read a response.
func setCORSHeaders(h http.Header, r *gateway.CORSRule, allowed, origin string) {
	if allowed == "*" {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	h.Set("Access-Control-Allow-Methods", strings.Join(r.AllowedMethods, ", "))
	if len(r.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(r.ExposeHeaders, ", "))
	}
	if r.MaxAgeSeconds != nil {
		h.Set("Access-Control-Max-Age", strconv.Itoa(*r.MaxAgeSeconds))
	}
}

// corsForbidden is AWS's answer to a preflight no rule allows.
func corsForbidden(msg string) *apiError {
	return &apiError{Status: http.StatusForbidden, Code: "AccessForbidden", Message: "CORSResponse: " + msg}
}

// preflight answers CORS preflight requests (OPTIONS), which browsers send
// without credentials, from the rules of the bucket they name. Every other
// request goes to next.
//
// A bucket that does not exist is answered as one without rules, so that
// the answer tells an anonymous client nothing about which buckets exist.
func preflight(cache *corsCache, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		origin := r.Header.Get("Origin")
		method := r.Header.Get("Access-Control-Request-Method")
		switch {
		case origin == "":
			writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "BadRequest", Message: "Insufficient information. Origin request header needed."})
			return
		case !corsMethods[method]:
			writeError(w, r, &apiError{Status: http.StatusBadRequest, Code: "BadRequest", Message: "Invalid Access-Control-Request-Method: " + method})
			return
		}
		bucket, _, _ := strings.Cut(strings.TrimLeft(r.URL.Path, "/"), "/")
		var rules []gateway.CORSRule
		if bucket != "" {
			var err error
			if rules, err = cache.rules(r.Context(), bucket); err != nil {
				writeNSError(w, r, err, bucket, "")
				return
			}
		}
		if len(rules) == 0 {
			writeError(w, r, corsForbidden("CORS is not enabled for this bucket."))
			return
		}
		w.Header().Set("Vary", corsVary)
		var headers []string
		for _, v := range r.Header.Values("Access-Control-Request-Headers") {
			for _, h := range strings.Split(v, ",") {
				if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
					headers = append(headers, h)
				}
			}
		}
		rule, allowed := matchRule(rules, origin, method, headers)
		if rule == nil {
			writeError(w, r, corsForbidden("This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."))
			return
		}
		setCORSHeaders(w.Header(), rule, allowed, origin)
		if len(headers) > 0 {
			w.Header().Set("Access-Control-Allow-Headers", strings.Join(headers, ", "))
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	})
}

// corsWriter sets the CORS headers of a response: it drops the ones
// gofakes3 sets on every response (any origin allowed) and puts in those
// the bucket's rules give, if any.
type corsWriter struct {
	http.ResponseWriter
	h     http.Header // headers to set, nil: none
	wrote bool
}

func (c *corsWriter) WriteHeader(code int) {
	if !c.wrote && code >= 200 {
		c.wrote = true
		h := c.ResponseWriter.Header()
		for k := range h {
			if strings.HasPrefix(k, "Access-Control-") {
				delete(h, k)
			}
		}
		for k, v := range c.h {
			h[k] = v
		}
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *corsWriter) Write(p []byte) (int, error) {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(p)
}

// Flush implements http.Flusher.
func (c *corsWriter) Flush() {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *corsWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// corsHeaders returns the CORS headers for an actual (not preflight)
// request to bucket: none without an Origin header or CORS rules; Vary
// when the bucket has rules; the Access-Control headers of the first rule
// that allows the request's origin and method.
func corsHeaders(cache *corsCache, r *http.Request, bucket string) http.Header {
	origin := r.Header.Get("Origin")
	if origin == "" || bucket == "" {
		return nil
	}
	rules, err := cache.rules(r.Context(), bucket)
	if err != nil || len(rules) == 0 {
		return nil
	}
	h := http.Header{"Vary": {corsVary}}
	if rule, allowed := matchRule(rules, origin, r.Method, nil); rule != nil {
		setCORSHeaders(h, rule, allowed, origin)
	}
	return h
}
