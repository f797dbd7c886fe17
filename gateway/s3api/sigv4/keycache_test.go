package sigv4

import (
	"bytes"
	"fmt"
	"testing"
)

// TestKeyCache checks that cached signing keys are the derived ones, that
// secret, date and region each select their own key, and that the cache
// stays bounded.
func TestKeyCache(t *testing.T) {
	var c keyCache
	cases := []struct {
		secret string
		sc     scope
	}{
		{exampleSecret, scope{"20130524", "us-east-1"}},
		{exampleSecret, scope{"20130525", "us-east-1"}},
		{exampleSecret, scope{"20130524", "eu-central-1"}},
		{"another-secret", scope{"20130524", "us-east-1"}},
	}
	for range 2 { // the second pass is served from the cache
		for _, tc := range cases {
			if got, want := c.get(tc.secret, tc.sc), signingKey(tc.secret, tc.sc); !bytes.Equal(got, want) {
				t.Errorf("get(%q, %v) = %x, want %x", tc.secret, tc.sc, got, want)
			}
		}
	}
	if n := len(c.keys); n != len(cases) {
		t.Errorf("%d cached keys, want %d", n, len(cases))
	}
	for i := range 3 * maxCachedKeys {
		c.get(fmt.Sprint("secret-", i), scope{"20130524", "us-east-1"})
	}
	if n := len(c.keys); n > maxCachedKeys {
		t.Errorf("%d cached keys, more than the bound %d", n, maxCachedKeys)
	}
}
