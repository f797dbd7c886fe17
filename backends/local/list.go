package local

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/twincrypt/twincrypt/backends"
)

// List returns up to limit objects whose names start with prefix and sort
// after startAfter, in byte order.
func (b *Backend) List(ctx context.Context, prefix, startAfter string, limit int) (backends.ListPage, error) {
	page, _, err := b.list(ctx, prefix, startAfter, limit)
	return page, err
}

// list is List; it also returns how many directory entries it read.
func (b *Backend) list(ctx context.Context, prefix, startAfter string, limit int) (backends.ListPage, int, error) {
	if prefix != "" && !backends.ValidName(prefix+"x") {
		return backends.ListPage{}, 0, &backends.Error{Backend: b.name, Op: "list", Err: fmt.Errorf("%w: prefix %q", backends.ErrInvalidName, prefix)}
	}
	if err := ctx.Err(); err != nil {
		return backends.ListPage{}, 0, &backends.Error{Backend: b.name, Op: "list", Err: err}
	}
	d, err := b.current("list", "")
	if err != nil {
		return backends.ListPage{}, 0, err
	}
	if limit <= 0 {
		limit = defaultPageSize
	}
	w := walker{ctx: ctx, root: d.root, prefix: prefix, after: startAfter, limit: limit + 1}
	if err := w.walk(".", ""); err != nil && !errors.Is(err, errPageFull) {
		return backends.ListPage{}, w.read, &backends.Error{Backend: b.name, Op: "list", Err: err}
	}
	if len(w.items) == 0 {
		// An empty listing is an answer only from the directory that is
		// still at the root path, not from one removed meanwhile.
		if now, err := b.dir(); err != nil {
			return backends.ListPage{}, w.read, &backends.Error{Backend: b.name, Op: "list", Err: err}
		} else if now != d {
			return backends.ListPage{}, w.read, &backends.Error{Backend: b.name, Op: "list",
				Err: fmt.Errorf("%w: directory replaced during the listing", backends.ErrUnavailable)}
		}
	}
	page := backends.ListPage{Items: w.items}
	if len(w.items) > limit {
		page.Items = w.items[:limit]
		page.Next = page.Items[limit-1].Name
	}
	return page, w.read, nil
}

var errPageFull = errors.New("page full")

// walker collects objects in byte order of their names.
type walker struct {
	ctx    context.Context
	root   *os.Root
	prefix string
	after  string
	limit  int
	items  []backends.Info
	read   int // directory entries read
}

// entryKind is what a directory entry holds. Entries with equal keys sort
// in this order.
type entryKind uint8

const (
	kindFan  entryKind = iota // a fan-out directory
	kindFile                  // an object
	kindDir                   // a directory of objects
)

// entry is a directory entry with the key it sorts by: the name for a file,
// the name and a slash for a directory ("b-x" < "b/..." < "b0"), the
// prefix for a fan-out directory (whose names all start with it).
type entry struct {
	key  string
	kind entryKind
	fi   os.FileInfo // a file's, when readDir has it
}

// name returns the entry's name in its directory.
func (e entry) name() string {
	switch e.kind {
	case kindDir:
		return strings.TrimSuffix(e.key, "/")
	case kindFan:
		return e.key + fanMark
	}
	return e.key
}

// readDir reads the directory dir of r and returns, sorted by key, the
// entries that belong to a listing. In the fan-out directory for prefix fan
// those are the names that fan out and start with fan (whether each is a
// file is left to visit, which skips the others); in a directory of
// objects (fan empty), the fan-out directories, and the files and the
// directories of objects, with their FileInfo. A file here whose name fans
// out is a flat file not migrated yet; it sorts among the fan-out
// directory's files. Only names are read (Readdirnames), so a directory of
// 4096 fan-out directories costs 4096 short strings.
func (w *walker) readDir(r *os.Root, dir, fan string) ([]entry, error) {
	f, err := r.Open(dir)
	if missing(err) {
		return nil, nil // removed meanwhile
	}
	if err != nil {
		return nil, err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	w.read += len(names)
	if err != nil {
		return nil, err
	}
	entries := make([]entry, 0, len(names))
	for _, n := range names {
		if fan != "" {
			if fansOut(n) && strings.HasPrefix(n, fan) {
				entries = append(entries, entry{key: n, kind: kindFile})
			}
			continue
		}
		if p, ok := fanPrefix(n); ok {
			entries = append(entries, entry{key: p, kind: kindFan})
			continue
		}
		if !backends.ValidName(n) {
			continue // the temporary directory or foreign files
		}
		fi, err := r.Lstat(path.Join(dir, n))
		if missing(err) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		switch {
		case fi.IsDir():
			entries = append(entries, entry{key: n + "/", kind: kindDir})
		case fi.Mode().IsRegular():
			entries = append(entries, entry{key: n, kind: kindFile, fi: fi})
		}
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return cmp.Compare(a.kind, b.kind)
	})
	return entries, nil
}

// walk visits the directory of objects dir ("." for the root), whose
// objects' names start with base.
//
// Its entries sort by key, and so do the names of the objects below each
// entry, except that a fan-out directory's files interleave with the
// entries that share its prefix ("3f2+/3f2a..." with a file "3f2b" or a
// directory "3f2c/"): those follow the fan-out directory in the sorted
// entries and are merged with its files.
func (w *walker) walk(dir, base string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	entries, err := w.readDir(w.root, dir, "")
	if err != nil {
		return err
	}
	for i := 0; i < len(entries); i++ {
		e := entries[i]
		if e.kind != kindFan {
			if err := w.visit(w.root, dir, base, e); err != nil {
				return err
			}
			continue
		}
		j := i + 1
		for j < len(entries) && strings.HasPrefix(entries[j].key, e.key) {
			j++
		}
		run := entries[i+1 : j]
		i = j - 1
		full := base + e.key
		if !w.wants(full) {
			if full > w.prefix && !strings.HasPrefix(full, w.prefix) {
				return errPageFull
			}
			// Names below the fan-out directory all sort before
			// startAfter, or none has the prefix; the entries
			// that share its prefix may still be wanted.
			for _, r := range run {
				if err := w.visit(w.root, dir, base, r); err != nil {
					return err
				}
			}
			continue
		}
		if err := w.merge(dir, base, e, run); err != nil {
			return err
		}
	}
	return nil
}

// wants reports whether some name that starts with full (the name of a
// directory and a slash, or a fan-out prefix) may belong to the listing:
// one that starts with the listing's prefix and sorts after startAfter.
func (w *walker) wants(full string) bool {
	if !strings.HasPrefix(full, w.prefix) && !strings.HasPrefix(w.prefix, full) {
		return false
	}
	return strings.HasPrefix(w.after, full) || full > w.after
}

// merge visits the files of the fan-out directory fan (an entry of dir)
// and the entries of dir that share its prefix, in byte order.
func (w *walker) merge(dir, base string, fan entry, run []entry) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	var r *os.Root
	fi, err := w.root.Lstat(path.Join(dir, fan.name()))
	if err == nil && fi.IsDir() {
		// A symlink in its place is a foreign file, never followed: it
		// would show another directory's files under this one's names.
		r, err = w.root.OpenRoot(path.Join(dir, fan.name()))
	}
	if missing(err) {
		r = nil // removed meanwhile, or a foreign file
	} else if err != nil {
		return err
	}
	var files []entry
	if r != nil {
		defer r.Close()
		files, err = w.readDir(r, ".", fan.key)
		if err != nil {
			return err
		}
		// Skip the files at or before startAfter.
		k, _ := slices.BinarySearchFunc(files, w.after, func(e entry, after string) int {
			if c := strings.Compare(base+e.key, after); c != 0 {
				return c
			}
			return -1
		})
		files = files[k:]
	}
	for len(files) > 0 || len(run) > 0 {
		var err error
		if len(run) == 0 || len(files) > 0 && files[0].key <= run[0].key {
			if len(run) > 0 && files[0].key == run[0].key {
				run = run[1:] // a flat copy: the fan-out one is the object
			}
			err = w.visit(r, ".", base, files[0])
			files = files[1:]
		} else {
			err = w.visit(w.root, dir, base, run[0])
			run = run[1:]
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// visit lists the file or directory of objects e, an entry of the
// directory dir of r whose objects' names start with base.
func (w *walker) visit(r *os.Root, dir, base string, e entry) error {
	full := base + e.key
	if e.kind == kindDir {
		if !w.wants(full) {
			if full > w.prefix && !strings.HasPrefix(full, w.prefix) {
				return errPageFull // past every name with the prefix
			}
			return nil
		}
		return w.walk(path.Join(dir, e.name()), full)
	}
	if full <= w.after {
		return nil
	}
	if !strings.HasPrefix(full, w.prefix) {
		if full > w.prefix {
			return errPageFull // past every name with the prefix
		}
		return nil
	}
	fi := e.fi
	var err error
	if fi == nil {
		fi, err = r.Lstat(path.Join(dir, e.key))
	}
	if missing(err) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil // replaced by a symbolic link or a directory meanwhile
	}
	w.items = append(w.items, backends.Info{Name: full, Size: fi.Size(), ModTime: fi.ModTime()})
	if len(w.items) >= w.limit {
		return errPageFull
	}
	return nil
}
