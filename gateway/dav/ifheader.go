package dav

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// ifCondition is one condition of an If header list (RFC 4918, 10.4).
type ifCondition struct {
	not   bool
	token string // a state token (lock token), or
	etag  string // an entity tag, with its quotes
}

// ifList is one list of an If header: all conditions must hold. resource
// is the tag it applies to, "" for the request URL.
type ifList struct {
	resource   string
	conditions []ifCondition
}

// parseIf parses an If header; false means it is malformed.
func parseIf(s string) ([]ifList, bool) {
	var lists []ifList
	resource := ""
	tagged := false
	s = strings.TrimSpace(s)
	for s != "" {
		switch s[0] {
		case '<':
			end := strings.IndexByte(s, '>')
			if end < 0 {
				return nil, false
			}
			if len(lists) > 0 && !tagged {
				return nil, false // a tag after untagged lists
			}
			resource, tagged = s[1:end], true
			s = s[end+1:]
		case '(':
			l, rest, ok := parseIfList(s[1:])
			if !ok {
				return nil, false
			}
			if tagged && resource == "" {
				return nil, false
			}
			l.resource = resource
			lists = append(lists, l)
			s = rest
		default:
			return nil, false
		}
		s = strings.TrimSpace(s)
	}
	return lists, len(lists) > 0
}

// parseIfList parses the conditions of a list up to its closing ")".
func parseIfList(s string) (ifList, string, bool) {
	var l ifList
	for {
		s = strings.TrimSpace(s)
		if s == "" {
			return l, "", false
		}
		var c ifCondition
		if strings.HasPrefix(s, "Not") {
			c.not = true
			s = strings.TrimSpace(s[3:])
		}
		switch {
		case s == "":
			return l, "", false
		case s[0] == ')':
			if c.not || len(l.conditions) == 0 {
				return l, "", false
			}
			return l, s[1:], true
		case s[0] == '<':
			end := strings.IndexByte(s, '>')
			if end < 1 {
				return l, "", false
			}
			c.token = s[1:end]
			s = s[end+1:]
		case s[0] == '[':
			end := strings.IndexByte(s, ']')
			if end < 1 {
				return l, "", false
			}
			c.etag = strings.TrimSpace(s[1:end])
			s = s[end+1:]
		default:
			return l, "", false
		}
		l.conditions = append(l.conditions, c)
	}
}

// formatIf writes lists back as an If header.
func formatIf(lists []ifList) string {
	var b strings.Builder
	for i, l := range lists {
		if i > 0 {
			b.WriteByte(' ')
		}
		if l.resource != "" {
			b.WriteString("<" + l.resource + "> ")
		}
		b.WriteByte('(')
		for j, c := range l.conditions {
			if j > 0 {
				b.WriteByte(' ')
			}
			if c.not {
				b.WriteString("Not ")
			}
			if c.token != "" {
				b.WriteString("<" + c.token + ">")
			} else {
				b.WriteString("[" + c.etag + "]")
			}
		}
		b.WriteByte(')')
	}
	return b.String()
}

// sameETag compares entity tags, ignoring weakness.
func sameETag(a, b string) bool {
	return strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
}

// evalIf evaluates the entity-tag conditions of the request's If header,
// which x/net/webdav ignores, and rewrites the header to what webdav.Handler
// checks against the lock system: the lock tokens of the lists whose
// entity tags hold. It returns 0, or the status to refuse the request with.
//
// A list whose conditions all hold without naming a lock ("Not <token>" and
// entity tags only) satisfies the header by itself; the header is then
// dropped if no other list names a lock, and the request goes through the
// same lock check as one without an If header.
func (f *fixer) evalIf(ctx context.Context, r *http.Request) int {
	h := r.Header.Get("If")
	if h == "" {
		return 0
	}
	lists, ok := parseIf(h)
	if !ok {
		return http.StatusBadRequest
	}
	var keep []ifList
	free := false
	for _, l := range lists {
		name := r.URL.Path
		if l.resource != "" {
			u, err := url.Parse(l.resource)
			if err != nil {
				continue
			}
			name = u.Path
		}
		if !f.etagsHold(ctx, name, l.conditions) {
			continue
		}
		var tokens []ifCondition
		for _, c := range l.conditions {
			if c.token != "" && !c.not {
				tokens = append(tokens, c)
			}
		}
		if len(tokens) == 0 {
			free = true
			continue
		}
		keep = append(keep, ifList{resource: l.resource, conditions: tokens})
	}
	switch {
	case len(keep) > 0:
		r.Header.Set("If", formatIf(keep))
	case free:
		r.Header.Del("If")
	default:
		return http.StatusPreconditionFailed
	}
	return 0
}

// etagsHold reports whether every entity-tag condition of a list holds for
// the resource at name. Directories have no entity tag.
func (f *fixer) etagsHold(ctx context.Context, name string, conds []ifCondition) bool {
	cur := ""
	looked := false
	for _, c := range conds {
		if c.etag == "" {
			continue
		}
		if !looked {
			looked = true
			if fi, err := f.fs.stat(ctx, parse(name)); err == nil && !fi.dir {
				cur, _ = fi.ETag(ctx)
			}
		}
		match := cur != "" && sameETag(cur, c.etag)
		if match == c.not {
			return false
		}
	}
	return true
}
