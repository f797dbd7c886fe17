package gateway

import (
	"testing"

	"github.com/twincrypt/twincrypt/config"
)

// TestCatalogSourceReserved checks that no backend can be called what
// scrub calls the catalog: repair would take that backend's problems for
// the catalog's own.
func TestCatalogSourceReserved(t *testing.T) {
	if catalogSource != config.ReservedBackendName {
		t.Fatalf("scrub reports the catalog's problems as %q, but the config reserves %q", catalogSource, config.ReservedBackendName)
	}
}
