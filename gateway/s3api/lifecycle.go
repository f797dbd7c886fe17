package s3api

import (
	"encoding/xml"
	"errors"
	"net/http"

	"github.com/twincrypt/twincrypt/gateway"
)

// lifecycleConfiguration is the body of Get/PutBucketLifecycleConfiguration.
type lifecycleConfiguration struct {
	XMLName xml.Name            `xml:"LifecycleConfiguration"`
	Xmlns   string              `xml:"xmlns,attr,omitempty"`
	Rules   []lifecycleRuleBody `xml:"Rule"`
}

// present marks an element the gateway does not apply: its presence is
// all that is decoded.
type present struct {
	Inner string `xml:",innerxml"`
}

type lifecycleRuleBody struct {
	ID     string           `xml:"ID,omitempty"`
	Prefix *string          `xml:"Prefix"` // the rule-level prefix of the older schema
	Filter *lifecycleFilter `xml:"Filter"`
	Status string           `xml:"Status"`

	NoncurrentVersionExpiration *noncurrentExpiration `xml:"NoncurrentVersionExpiration"`

	Expiration                     *present   `xml:"Expiration"`
	Transitions                    []*present `xml:"Transition"`
	NoncurrentVersionTransitions   []*present `xml:"NoncurrentVersionTransition"`
	AbortIncompleteMultipartUpload *present   `xml:"AbortIncompleteMultipartUpload"`
}

type lifecycleFilter struct {
	Prefix                *string  `xml:"Prefix"`
	Tag                   *present `xml:"Tag"`
	And                   *present `xml:"And"`
	ObjectSizeGreaterThan *present `xml:"ObjectSizeGreaterThan"`
	ObjectSizeLessThan    *present `xml:"ObjectSizeLessThan"`
}

type noncurrentExpiration struct {
	NoncurrentDays          int `xml:"NoncurrentDays,omitempty"`
	NewerNoncurrentVersions int `xml:"NewerNoncurrentVersions,omitempty"`
}

// lifecycleOutput is the answer to GetBucketLifecycleConfiguration.
type lifecycleOutput struct {
	XMLName xml.Name              `xml:"LifecycleConfiguration"`
	Xmlns   string                `xml:"xmlns,attr"`
	Rules   []lifecycleRuleOutput `xml:"Rule"`
}

type lifecycleRuleOutput struct {
	ID     string `xml:"ID,omitempty"`
	Filter struct {
		Prefix string `xml:"Prefix"`
	} `xml:"Filter"`
	Status                      string               `xml:"Status"`
	NoncurrentVersionExpiration noncurrentExpiration `xml:"NoncurrentVersionExpiration"`
}

// onlyNoncurrent is the refusal of a lifecycle rule the gateway does not
// apply.
var onlyNoncurrent = &apiError{Status: http.StatusNotImplemented, Code: "NotImplemented",
	Message: "This gateway applies only NoncurrentVersionExpiration lifecycle rules (NoncurrentDays, NewerNoncurrentVersions) with a prefix filter; Expiration, Transition, NoncurrentVersionTransition, AbortIncompleteMultipartUpload and tag or size filters are not supported."}

// bucketLifecycle answers Get, Put and DeleteBucketLifecycleConfiguration.
func bucketLifecycle(ns *gateway.Namespace, w http.ResponseWriter, r *http.Request, bucket string) {
	switch r.Method {
	case http.MethodGet:
		rules, err := ns.BucketLifecycle(r.Context(), bucket)
		if errors.Is(err, gateway.ErrNoLifecycle) {
			writeError(w, r, &apiError{Status: http.StatusNotFound, Code: "NoSuchLifecycleConfiguration", Message: "The lifecycle configuration does not exist"})
			return
		}
		if err != nil {
			writeNSError(w, r, err, bucket, "")
			return
		}
		out := lifecycleOutput{Xmlns: s3Xmlns}
		for _, l := range rules {
			o := lifecycleRuleOutput{ID: l.ID, Status: "Disabled",
				NoncurrentVersionExpiration: noncurrentExpiration{NoncurrentDays: l.Days, NewerNoncurrentVersions: l.Keep}}
			if l.Enabled {
				o.Status = "Enabled"
			}
			o.Filter.Prefix = l.Prefix
			out.Rules = append(out.Rules, o)
		}
		writeXML(w, out)
	case http.MethodPut:
		var in lifecycleConfiguration
		if e := readXML(r, &in); e != nil {
			writeError(w, r, e)
			return
		}
		var rules []gateway.NoncurrentRule
		for _, l := range in.Rules {
			if l.Expiration != nil || len(l.Transitions) > 0 || len(l.NoncurrentVersionTransitions) > 0 || l.AbortIncompleteMultipartUpload != nil {
				writeError(w, r, onlyNoncurrent)
				return
			}
			if l.Status != "Enabled" && l.Status != "Disabled" {
				writeError(w, r, malformedXML())
				return
			}
			if l.NoncurrentVersionExpiration == nil {
				writeError(w, r, malformedXML())
				return
			}
			rule := gateway.NoncurrentRule{ID: l.ID, Enabled: l.Status == "Enabled",
				Days: l.NoncurrentVersionExpiration.NoncurrentDays, Keep: l.NoncurrentVersionExpiration.NewerNoncurrentVersions}
			switch f := l.Filter; {
			case f != nil && l.Prefix != nil:
				writeError(w, r, malformedXML())
				return
			case f != nil && (f.Tag != nil || f.And != nil || f.ObjectSizeGreaterThan != nil || f.ObjectSizeLessThan != nil):
				writeError(w, r, onlyNoncurrent)
				return
			case f != nil && f.Prefix != nil:
				rule.Prefix = *f.Prefix
			case l.Prefix != nil:
				rule.Prefix = *l.Prefix
			}
			rules = append(rules, rule)
		}
		if len(rules) == 0 {
			writeError(w, r, malformedXML())
			return
		}
		if err := ns.SetBucketLifecycle(r.Context(), bucket, rules); err != nil {
			if errors.Is(err, gateway.ErrInvalidLifecycle) {
				writeError(w, r, argError(err.Error()))
				return
			}
			writeNSError(w, r, err, bucket, "")
			return
		}
		w.WriteHeader(http.StatusOK)
	case http.MethodDelete:
		if err := ns.SetBucketLifecycle(r.Context(), bucket, nil); err != nil {
			writeNSError(w, r, err, bucket, "")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, r, methodNotAllowed())
	}
}
