package catalog

import "strings"

// versionPage is one page of ListVersions being filled, whatever the
// catalog: the options, the page's room and what it holds so far.
type versionPage struct {
	o     VersionListOptions
	limit int
	res   *VersionListResult
	n     int
}

// versionSource is what a catalog implementation gives ListVersions: the
// keys in order, and the versions of one key.
type versionSource interface {
	// nextKey returns the smallest key with the listing's prefix that is
	// at or after from (strictly after, if strict), in the object index
	// or the version index.
	nextKey(from string, strict bool) (string, bool, error)
	// key adds the versions of key to the page, those after version
	// resume if it is set.
	key(key, resume string) error
}

// full reports whether the page is full, marking it truncated: called
// only when another item exists.
func (l *versionPage) full() bool {
	if l.n == l.limit {
		l.res.Truncated = true
		return true
	}
	l.n++
	return false
}

// list fills the page from src: keys in order from the markers on, a
// common prefix for each run of keys that the delimiter rolls up (skipped
// in one step), and the versions of every other key.
func (l *versionPage) list(src versionSource) error {
	o := l.o
	from, strict := o.Prefix, false
	resumeID := ""
	if o.KeyMarker != "" && o.KeyMarker >= o.Prefix {
		from, strict = o.KeyMarker, true
		if o.VersionIDMarker != "" {
			strict, resumeID = false, o.VersionIDMarker
		}
	}
	for {
		key, ok, err := src.nextKey(from, strict)
		if err != nil || !ok {
			return err
		}
		if o.Delimiter != "" {
			if i := strings.Index(key[len(o.Prefix):], o.Delimiter); i >= 0 {
				cp := key[:len(o.Prefix)+i+len(o.Delimiter)]
				if cp > o.KeyMarker {
					if l.full() {
						return nil
					}
					l.res.CommonPrefixes = append(l.res.CommonPrefixes, cp)
					l.res.NextKeyMarker, l.res.NextVersionIDMarker = cp, ""
				}
				next := successor([]byte(cp))
				if next == nil {
					return nil
				}
				from, strict = string(next), false
				continue
			}
		}
		resume := ""
		if key == o.KeyMarker {
			resume = resumeID
		}
		if err := src.key(key, resume); err != nil || l.res.Truncated {
			return err
		}
		from, strict = key, true
	}
}
