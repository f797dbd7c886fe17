// Package locktest is the conformance suite of dav.SharedLockSystem: every
// lock system the WebDAV front end can use (dav.MemLocks, the Redis one)
// must pass Run.
package locktest

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/net/webdav"

	"github.com/twincrypt/twincrypt/gateway/dav"
)

// Run runs the suite; open returns a new, empty lock system for each
// subtest.
func Run(t *testing.T, open func(t *testing.T) dav.SharedLockSystem) {
	t.Run("Conflicts", func(t *testing.T) { conflicts(t, open) })
	t.Run("Lifecycle", func(t *testing.T) { lifecycle(t, open(t)) })
	t.Run("Confirm", func(t *testing.T) { confirm(t, open) })
}

// now is the suite's clock: far from the wall clock, so that a lock
// system that used its own clock for timeouts fails.
var now = time.Unix(1_700_000_000, 0)

func lock(root string, zero bool) webdav.LockDetails {
	return webdav.LockDetails{Root: root, Duration: time.Minute, ZeroDepth: zero}
}

func conflicts(t *testing.T, open func(t *testing.T) dav.SharedLockSystem) {
	type step struct {
		op     string // "x" exclusive, "s" shared
		d      webdav.LockDetails
		locked bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"shared twice", []step{{"s", lock("/a", true), false}, {"s", lock("/a", true), false}}},
		{"exclusive after shared", []step{{"s", lock("/a", true), false}, {"x", lock("/a", true), true}}},
		{"shared after exclusive", []step{{"x", lock("/a", true), false}, {"s", lock("/a", true), true}}},
		{"depth infinity covers children", []step{{"x", lock("/a", false), false}, {"x", lock("/a/b/c", true), true}}},
		{"depth 0 does not", []step{{"x", lock("/a", true), false}, {"x", lock("/a/b", true), false}}},
		{"parent over a locked child", []step{{"x", lock("/a/b", true), false}, {"x", lock("/a", false), true}}},
		{"depth 0 parent over a locked child", []step{{"x", lock("/a/b", true), false}, {"x", lock("/a", true), false}}},
		{"grandparent over a locked grandchild", []step{{"x", lock("/a/b/c", true), false}, {"x", lock("/a", false), true}}},
		{"shared parent over a shared child", []step{{"s", lock("/a/b", false), false}, {"s", lock("/a", false), false}, {"x", lock("/a/b/c", true), true}}},
		{"siblings", []step{{"x", lock("/a/b", false), false}, {"x", lock("/a/bc", false), false}}},
		{"prefix is no parent", []step{{"x", lock("/a/bc", true), false}, {"x", lock("/a/b", false), false}}},
		{"root lock", []step{{"x", lock("/", false), false}, {"s", lock("/z", true), true}}},
		{"root after a lock", []step{{"x", lock("/z/y", true), false}, {"x", lock("/", false), true}}},
		{"depth 0 root", []step{{"x", lock("/", true), false}, {"x", lock("/z", false), false}, {"x", lock("/", true), true}}},
		{"trailing slash", []step{{"x", lock("/a/", true), false}, {"x", lock("/a", true), true}}},
		{"unclean root", []step{{"x", lock("a/./b/../c", false), false}, {"x", lock("/a/c/d", true), true}}},
		{"expired lock", []step{{"x", webdav.LockDetails{Root: "/a", Duration: 0}, false}, {"x", lock("/a", false), false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := open(t)
			for i, s := range tc.steps {
				var err error
				if s.op == "s" {
					_, err = m.CreateShared(now, s.d)
				} else {
					_, err = m.Create(now, s.d)
				}
				if got := errors.Is(err, webdav.ErrLocked); got != s.locked || (err != nil && !got) {
					t.Fatalf("step %d (%s %+v): err %v, want locked %v", i, s.op, s.d, err, s.locked)
				}
			}
		})
	}
}

func lifecycle(t *testing.T, m dav.SharedLockSystem) {
	d := webdav.LockDetails{Root: "/f", Duration: time.Minute, ZeroDepth: true, OwnerXML: `<D:href>mailto:a@example.com</D:href>`}
	tok, err := m.CreateShared(now, d)
	if err != nil || !m.IsShared(now, tok) {
		t.Fatalf("CreateShared: %q %v", tok, err)
	}
	if x, err := m.Create(now, lock("/x", true)); err != nil || m.IsShared(now, x) {
		t.Fatalf("Create: %q %v, or reported shared", x, err)
	}
	other, err := m.CreateShared(now, d)
	if err != nil || other == tok {
		t.Fatalf("second CreateShared: %q %v (first %q)", other, err, tok)
	}
	release, err := m.Confirm(now, "/f", "", webdav.Condition{Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Confirm(now, "/f", "", webdav.Condition{Token: tok}); !errors.Is(err, webdav.ErrConfirmationFailed) {
		t.Errorf("second Confirm while held: %v", err)
	}
	if err := m.Unlock(now, tok); !errors.Is(err, webdav.ErrLocked) {
		t.Errorf("Unlock while held: %v", err)
	}
	if _, err := m.Refresh(now, tok, time.Minute); !errors.Is(err, webdav.ErrLocked) {
		t.Errorf("Refresh while held: %v", err)
	}
	// Another shared lock on the same resource is not held.
	r2, err := m.Confirm(now, "/f", "", webdav.Condition{Token: tok}, webdav.Condition{Token: other})
	if err != nil {
		t.Errorf("Confirm with a second, unheld lock: %v", err)
	} else {
		r2()
	}
	release()
	release() // a second call does nothing
	if _, err := m.Confirm(now, "/g", "", webdav.Condition{Token: tok}); !errors.Is(err, webdav.ErrConfirmationFailed) {
		t.Errorf("Confirm of another resource: %v", err)
	}
	if _, err := m.Confirm(now, "/f", "", webdav.Condition{Token: tok, Not: true}); !errors.Is(err, webdav.ErrConfirmationFailed) {
		t.Errorf("Confirm with Not: %v", err)
	}
	ld, err := m.Refresh(now, tok, 2*time.Minute)
	if err != nil || ld.Duration != 2*time.Minute || ld.Root != "/f" || !ld.ZeroDepth || ld.OwnerXML != d.OwnerXML {
		t.Errorf("Refresh: %+v %v", ld, err)
	}
	if !m.IsShared(now, tok) {
		t.Errorf("refreshed shared lock is not shared")
	}
	// Expiry: other has one minute, tok (refreshed) two.
	later := now.Add(90 * time.Second)
	if _, err := m.Refresh(later, other, time.Minute); !errors.Is(err, webdav.ErrNoSuchLock) {
		t.Errorf("Refresh after expiry: %v", err)
	}
	if _, err := m.Confirm(later, "/f", "", webdav.Condition{Token: other}); !errors.Is(err, webdav.ErrConfirmationFailed) {
		t.Errorf("Confirm after expiry: %v", err)
	}
	if _, err := m.Create(later, lock("/f", true)); !errors.Is(err, webdav.ErrLocked) {
		t.Errorf("Create while a refreshed shared lock lives: %v", err)
	}
	later = now.Add(3 * time.Minute)
	if _, err := m.Refresh(later, tok, time.Minute); !errors.Is(err, webdav.ErrNoSuchLock) {
		t.Errorf("Refresh after expiry: %v", err)
	}
	if m.IsShared(later, tok) {
		t.Errorf("expired lock is shared")
	}
	if _, err := m.Create(later, lock("/f", true)); err != nil {
		t.Errorf("Create after expiry: %v", err)
	}
	for _, bad := range []string{"opaquelocktoken:nope", "", string(make([]byte, 4096))} {
		if err := m.Unlock(later, bad); !errors.Is(err, webdav.ErrNoSuchLock) {
			t.Errorf("Unlock of an unknown token: %v", err)
		}
		if _, err := m.Refresh(later, bad, time.Minute); !errors.Is(err, webdav.ErrNoSuchLock) {
			t.Errorf("Refresh of an unknown token: %v", err)
		}
	}
	inf, err := m.Create(later, webdav.LockDetails{Root: "/forever", Duration: -1})
	if err != nil {
		t.Fatal(err)
	}
	if ld, err := m.Refresh(later.Add(1000*time.Hour), inf, -1); err != nil || ld.Duration != -1 || ld.Root != "/forever" || ld.ZeroDepth {
		t.Errorf("infinite lock after 1000 hours: %+v %v", ld, err)
	}
	if err := m.Unlock(later, inf); err != nil {
		t.Errorf("Unlock: %v", err)
	}
	if err := m.Unlock(later, inf); !errors.Is(err, webdav.ErrNoSuchLock) {
		t.Errorf("second Unlock: %v", err)
	}
	if _, err := m.Create(later, webdav.LockDetails{Root: "/forever", Duration: -1}); err != nil {
		t.Errorf("Create after Unlock: %v", err)
	}
}

func confirm(t *testing.T, open func(t *testing.T) dav.SharedLockSystem) {
	type lk struct {
		root string
		zero bool
	}
	for _, tc := range []struct {
		name         string
		locks        []lk
		name0, name1 string
		use          []int // indexes into locks whose tokens the request names
		ok           bool
	}{
		{"own resource", []lk{{"/a", true}}, "/a", "", []int{0}, true},
		{"unclean name", []lk{{"/a/b", true}}, "a/./b/", "", []int{0}, true},
		{"child of depth 0", []lk{{"/a", true}}, "/a/b", "", []int{0}, false},
		{"grandchild of infinity", []lk{{"/a", false}}, "/a/b/c", "", []int{0}, true},
		{"parent of the root", []lk{{"/a/b", false}}, "/a", "", []int{0}, false},
		{"sibling prefix", []lk{{"/a", false}}, "/ab", "", []int{0}, false},
		{"root lock covers all", []lk{{"/", false}}, "/x/y", "", []int{0}, true},
		{"two names, one lock", []lk{{"/a", false}}, "/a/x", "/a/y", []int{0}, true},
		{"two names, two locks", []lk{{"/a", true}, {"/b", true}}, "/a", "/b", []int{1, 0}, true},
		{"second name uncovered", []lk{{"/a", true}, {"/b", true}}, "/a", "/b", []int{0}, false},
		{"no names", []lk{{"/a", true}}, "", "", nil, true},
		{"no tokens", []lk{{"/a", true}}, "/a", "", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := open(t)
			var toks []string
			for _, l := range tc.locks {
				tok, err := m.Create(now, lock(l.root, l.zero))
				if err != nil {
					t.Fatal(err)
				}
				toks = append(toks, tok)
			}
			conds := []webdav.Condition{{Token: "opaquelocktoken:unknown"}}
			for _, i := range tc.use {
				conds = append(conds, webdav.Condition{Token: toks[i]})
			}
			release, err := m.Confirm(now, tc.name0, tc.name1, conds...)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, webdav.ErrConfirmationFailed)) {
				t.Fatalf("Confirm(%q, %q): %v, want ok %v", tc.name0, tc.name1, err, tc.ok)
			}
			if err != nil {
				return
			}
			if tc.name0 != "" {
				if _, err := m.Confirm(now, tc.name0, "", conds...); !errors.Is(err, webdav.ErrConfirmationFailed) {
					t.Errorf("Confirm while held: %v", err)
				}
			}
			release()
			if r, err := m.Confirm(now, tc.name0, tc.name1, conds...); err != nil {
				t.Errorf("Confirm after release: %v", err)
			} else {
				r()
			}
		})
	}
}
