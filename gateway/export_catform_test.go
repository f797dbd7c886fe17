package gateway

// SameRecord reports whether sealed, a provider's copy of a meta record,
// is the record the catalog record rec stands for (sameRecord).
func SameRecord(sealed, rec []byte) bool { return sameRecord(sealed, rec) }

// CatalogForm reports whether a catalog record is in the catalog form.
func CatalogForm(rec []byte) bool { return !isSealedForm(rec) }
