package s3api_test

import (
	"strings"
	"testing"
)

// versioningSuspended is a PutBucketVersioning body that suspends versioning.
const versioningSuspended = `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Suspended</Status></VersioningConfiguration>`

// refusal is one S3 action the gateway does not implement, as a client
// sends it, and the answer the gateway gives.
type refusal struct {
	action string
	method string
	path   string // with the query that names the action
	header map[string]string
	status int
	code   string
}

var refusals = []refusal{
	{"CreateBucketMetadataConfiguration", "POST", "/unit?metadataConfiguration", nil, 501, "NotImplemented"},
	{"CreateBucketMetadataTableConfiguration", "POST", "/unit?metadataTable", nil, 501, "NotImplemented"},
	{"CreateSession", "GET", "/unit?session", nil, 501, "NotImplemented"},
	{"DeleteBucketAnalyticsConfiguration", "DELETE", "/unit?analytics&id=a", nil, 501, "NotImplemented"},
	{"DeleteBucketEncryption", "DELETE", "/unit?encryption", nil, 501, "NotImplemented"},
	{"DeleteBucketIntelligentTieringConfiguration", "DELETE", "/unit?intelligent-tiering&id=a", nil, 501, "NotImplemented"},
	{"DeleteBucketInventoryConfiguration", "DELETE", "/unit?inventory&id=a", nil, 501, "NotImplemented"},
	{"DeleteBucketMetadataConfiguration", "DELETE", "/unit?metadataConfiguration", nil, 501, "NotImplemented"},
	{"DeleteBucketMetadataTableConfiguration", "DELETE", "/unit?metadataTable", nil, 501, "NotImplemented"},
	{"DeleteBucketMetricsConfiguration", "DELETE", "/unit?metrics&id=a", nil, 501, "NotImplemented"},
	{"DeleteBucketPolicy", "DELETE", "/unit?policy", nil, 501, "NotImplemented"},
	{"DeleteBucketReplication", "DELETE", "/unit?replication", nil, 501, "NotImplemented"},
	{"DeleteBucketWebsite", "DELETE", "/unit?website", nil, 501, "NotImplemented"},
	{"DeletePublicAccessBlock", "DELETE", "/unit?publicAccessBlock", nil, 501, "NotImplemented"},
	{"GetBucketAbac", "GET", "/unit?abac", nil, 501, "NotImplemented"},
	{"GetBucketAccelerateConfiguration", "GET", "/unit?accelerate", nil, 501, "NotImplemented"},
	{"GetBucketAnalyticsConfiguration", "GET", "/unit?analytics&id=a", nil, 501, "NotImplemented"},
	{"GetBucketEncryption", "GET", "/unit?encryption", nil, 501, "NotImplemented"},
	{"GetBucketIntelligentTieringConfiguration", "GET", "/unit?intelligent-tiering&id=a", nil, 501, "NotImplemented"},
	{"GetBucketInventoryConfiguration", "GET", "/unit?inventory&id=a", nil, 501, "NotImplemented"},
	{"GetBucketLogging", "GET", "/unit?logging", nil, 501, "NotImplemented"},
	{"GetBucketMetadataConfiguration", "GET", "/unit?metadataConfiguration", nil, 501, "NotImplemented"},
	{"GetBucketMetadataTableConfiguration", "GET", "/unit?metadataTable", nil, 501, "NotImplemented"},
	{"GetBucketMetricsConfiguration", "GET", "/unit?metrics&id=a", nil, 501, "NotImplemented"},
	{"GetBucketNotificationConfiguration", "GET", "/unit?notification", nil, 501, "NotImplemented"},
	{"GetBucketPolicy", "GET", "/unit?policy", nil, 501, "NotImplemented"},
	{"GetBucketPolicyStatus", "GET", "/unit?policyStatus", nil, 501, "NotImplemented"},
	{"GetBucketReplication", "GET", "/unit?replication", nil, 501, "NotImplemented"},
	{"GetBucketRequestPayment", "GET", "/unit?requestPayment", nil, 501, "NotImplemented"},
	{"GetBucketWebsite", "GET", "/unit?website", nil, 501, "NotImplemented"},
	{"GetObjectTorrent", "GET", "/unit/obj?torrent", nil, 501, "NotImplemented"},
	{"GetPublicAccessBlock", "GET", "/unit?publicAccessBlock", nil, 501, "NotImplemented"},
	{"ListBucketAnalyticsConfigurations", "GET", "/unit?analytics", nil, 501, "NotImplemented"},
	{"ListBucketIntelligentTieringConfigurations", "GET", "/unit?intelligent-tiering", nil, 501, "NotImplemented"},
	{"ListBucketInventoryConfigurations", "GET", "/unit?inventory", nil, 501, "NotImplemented"},
	{"ListBucketMetricsConfigurations", "GET", "/unit?metrics", nil, 501, "NotImplemented"},
	{"PutBucketAbac", "PUT", "/unit?abac", nil, 501, "NotImplemented"},
	{"PutBucketAccelerateConfiguration", "PUT", "/unit?accelerate", nil, 501, "NotImplemented"},
	{"PutBucketAnalyticsConfiguration", "PUT", "/unit?analytics&id=a", nil, 501, "NotImplemented"},
	{"PutBucketEncryption", "PUT", "/unit?encryption", nil, 501, "NotImplemented"},
	{"PutBucketIntelligentTieringConfiguration", "PUT", "/unit?intelligent-tiering&id=a", nil, 501, "NotImplemented"},
	{"PutBucketInventoryConfiguration", "PUT", "/unit?inventory&id=a", nil, 501, "NotImplemented"},
	{"PutBucketLogging", "PUT", "/unit?logging", nil, 501, "NotImplemented"},
	{"PutBucketMetricsConfiguration", "PUT", "/unit?metrics&id=a", nil, 501, "NotImplemented"},
	{"PutBucketNotificationConfiguration", "PUT", "/unit?notification", nil, 501, "NotImplemented"},
	{"PutBucketPolicy", "PUT", "/unit?policy", nil, 501, "NotImplemented"},
	{"PutBucketReplication", "PUT", "/unit?replication", nil, 501, "NotImplemented"},
	{"PutBucketRequestPayment", "PUT", "/unit?requestPayment", nil, 501, "NotImplemented"},
	{"PutBucketWebsite", "PUT", "/unit?website", nil, 501, "NotImplemented"},
	{"PutPublicAccessBlock", "PUT", "/unit?publicAccessBlock", nil, 501, "NotImplemented"},
	{"RenameObject", "PUT", "/unit/renamed?renameObject", map[string]string{"X-Amz-Rename-Source": "/unit/obj"}, 501, "NotImplemented"},
	{"RestoreObject", "POST", "/unit/obj?restore", nil, 501, "NotImplemented"},
	{"SelectObjectContent", "POST", "/unit/obj?select&select-type=2", nil, 501, "NotImplemented"},
	{"UpdateBucketMetadataInventoryTableConfiguration", "PUT", "/unit?metadataInventoryTable", nil, 501, "NotImplemented"},
	{"UpdateBucketMetadataJournalTableConfiguration", "PUT", "/unit?metadataJournalTable", nil, 501, "NotImplemented"},
	{"WriteGetObjectResponse", "POST", "/WriteGetObjectResponse", map[string]string{"X-Amz-Request-Route": "r", "X-Amz-Request-Token": "t"}, 404, "NoSuchBucket"},
}

// TestRefusedActions sends every S3 action the gateway does not implement
// once and checks the answer docs/S3-COMPAT.md documents; the object the
// requests name keeps its content.
func TestRefusedActions(t *testing.T) {
	_, srv := newServer(t)
	if r := do(t, srv, "PUT", "/unit/obj", nil, "kept"); r.status != 200 {
		t.Fatal(r.status, r.body)
	}
	for _, rf := range refusals {
		r := do(t, srv, rf.method, rf.path, rf.header, "<x/>")
		if r.status != rf.status || !strings.Contains(r.body, "<Code>"+rf.code+"</Code>") {
			t.Errorf("%s: %d %s, want %d %s", rf.action, r.status, r.body, rf.status, rf.code)
		}
	}
	if r := do(t, srv, "GET", "/unit/obj", nil, ""); r.body != "kept" {
		t.Errorf("object changed: %q", r.body)
	}
	if r := do(t, srv, "HEAD", "/unit/renamed", nil, ""); r.status != 404 {
		t.Errorf("RenameObject stored an object: %d", r.status)
	}
	if r := do(t, srv, "HEAD", "/unit", nil, ""); r.status != 200 {
		t.Errorf("bucket gone: %d", r.status)
	}
	// A bucket that does not exist is not created by a sub-resource
	// PUT (gofakes3 would take PUT /bucket?abac for CreateBucket).
	if r := do(t, srv, "PUT", "/other?abac", nil, ""); r.status != 501 {
		t.Errorf("PUT /other?abac: %d", r.status)
	}
	if r := do(t, srv, "HEAD", "/other", nil, ""); r.status != 404 {
		t.Errorf("PUT /other?abac created the bucket: %d", r.status)
	}
	// An empty bucket is not deleted by DELETE /bucket?metadataConfiguration.
	if r := do(t, srv, "PUT", "/empty", nil, ""); r.status != 200 {
		t.Fatal(r.status, r.body)
	}
	if r := do(t, srv, "DELETE", "/empty?metadataConfiguration", nil, ""); r.status != 501 {
		t.Errorf("DELETE /empty?metadataConfiguration: %d", r.status)
	}
	if r := do(t, srv, "HEAD", "/empty", nil, ""); r.status != 200 {
		t.Errorf("DELETE /empty?metadataConfiguration deleted the bucket: %d", r.status)
	}
}

// TestVersioningAnswers checks the versioning answers of a bucket that never
// had versioning: GetBucketVersioning without a status, PutBucketVersioning
// with Suspended or a malformed body, and ListObjectVersions (every object
// one version "null"). versions_test.go covers buckets with versioning.
func TestVersioningAnswers(t *testing.T) {
	_, srv := newServer(t)
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"GET", "/unit?versioning", "", 200, `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></VersioningConfiguration>`},
		{"PUT", "/unit?versioning", versioningSuspended, 200, ""},
		{"PUT", "/unit?versioning", "<x/>", 400, "<Code>MalformedXML</Code>"},
		{"PUT", "/unit/a", "x", 200, ""},
		{"GET", "/unit?versions", "", 200, "<Version><Key>a</Key><VersionId>null</VersionId><IsLatest>true</IsLatest>"},
		{"GET", "/?max-directory-buckets=10", "", 200, "<ListAllMyBucketsResult"},
	} {
		r := do(t, srv, tc.method, tc.path, nil, tc.body)
		if r.status != tc.status || !strings.Contains(r.body, tc.want) {
			t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.path, r.status, r.body, tc.status, tc.want)
		}
	}
}
