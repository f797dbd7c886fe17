package sigv4

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGuess(t *testing.T) {
	long := strings.Repeat("K", 100)
	tests := []struct {
		e     *Error
		key   string
		guess bool
	}{
		{newError(CodeSignatureDoesNotMatch, 403, "").with("AWSAccessKeyId", "AK"), "AK", true},
		{newError(CodeInvalidAccessKeyID, 403, "").with("AWSAccessKeyId", long), long[:64] + "...", true},
		{newError(CodeRequestTimeTooSkewed, 403, ""), "", false},
		{newError(CodeAccessDenied, 403, ""), "", false},
		{newError(CodeAuthorizationHeaderMalformed, 400, ""), "", false},
	}
	for _, tt := range tests {
		key, ok := tt.e.Guess()
		if key != tt.key || ok != tt.guess {
			t.Errorf("%s: Guess() = %q, %v; want %q, %v", tt.e.Code, key, ok, tt.key, tt.guess)
		}
	}
}

func TestHasCredentials(t *testing.T) {
	tests := []struct {
		target, auth string
		want         bool
	}{
		{"/b/k", "", false},
		{"/b/k?versionId=1", "", false},
		{"/b/k", "AWS4-HMAC-SHA256 Credential=AK/...", true},
		{"/b/k?X-Amz-Credential=AK%2F20260101", "", true},
		{"/b/k?X-Amz-Signature=00", "", true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", tt.target, nil)
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		if got := HasCredentials(r); got != tt.want {
			t.Errorf("%s (Authorization %q): %v, want %v", tt.target, tt.auth, got, tt.want)
		}
	}
}
