package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"

	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/twincrypt/twincrypt/internal/binfield"
	"github.com/twincrypt/twincrypt/internal/spill"
)

// candWidth is the width of a version candidate's key in a versionSpill:
// the meta hash of its bucket and key (the group), its sequence number
// inverted (newest first) and the offset of its details in the info file.
const candWidth = 32 + 8 + 8

// versionCand is one record of a version found by Recover.
type versionCand struct {
	name      string // backend name of its record
	versionID string
	seq       uint64
	marker    bool
	modTime   time.Time
	// deferred: met while listing and not restored then (every record
	// that names a version); the key's own unversioned record was.
	deferred bool
}

// candInfo is what a versionSpill keeps on disk of a candidate besides
// its key.
type candInfo struct {
	Name, Bucket, Key, VersionID string
	Marker                       bool
	ModTime                      time.Time
}

// encode returns ci in the info file's form: its fields as binfield
// strings, a flag and the time's binary form (which keeps its zone).
func (ci *candInfo) encode() ([]byte, error) {
	t, err := ci.ModTime.MarshalBinary()
	if err != nil {
		return nil, err
	}
	var e binfield.Encoder
	e.String(ci.Name)
	e.String(ci.Bucket)
	e.String(ci.Key)
	e.String(ci.VersionID)
	e.Bool(ci.Marker)
	e.Bytes(t)
	return e.B, nil
}

// decodeCandInfo decodes what encode wrote.
func decodeCandInfo(b []byte) (*candInfo, error) {
	d := binfield.NewDecoder(b, func(why string) error { return errors.New(why) })
	ci := &candInfo{Name: d.String(), Bucket: d.String(), Key: d.String(), VersionID: d.String(), Marker: d.Bool()}
	t := d.Raw()
	if err := d.Done(); err != nil {
		return nil, err
	}
	if err := ci.ModTime.UnmarshalBinary(t); err != nil {
		return nil, err
	}
	return ci, nil
}

// versionSpill collects the records of versions found while listing, in
// memory bounded by the spill buffer: the keys go to a spill.Set, sorted
// by key group (the meta hash of bucket and key) and newest first, and
// the rest (names, version IDs, times) to an append-only info file read
// back by offset.
type versionSpill struct {
	set  *spill.Set
	own  *spill.Set // groups whose own record name holds a version record
	tmp  *tempFile  // the info file
	info *os.File
	w    *bufio.Writer
	off  int64
}

// newVersionSpill returns an empty versionSpill keeping up to buffer keys
// in memory (spill.DefaultBuffer when buffer <= 0). The info file holds
// bucket and key names in clear: it lives in the recovery directory under
// root, where the recovered files go anyway, never in the system's
// temporary directory (the spill sets hold only hashes).
func newVersionSpill(root *os.Root, buffer int) (*versionSpill, error) {
	t, err := createTemp(root, ".")
	if err != nil {
		return nil, err
	}
	return &versionSpill{
		set: spill.New("", candWidth, buffer), own: spill.New("", 32, buffer),
		tmp: t, info: t.f, w: t.w,
	}, nil
}

// add notes the version record r stored under name; names holds the
// namespace's name key.
func (vs *versionSpill) add(n names, name string, r *record) error {
	group := n.metaHash(r.Bucket, r.Key)
	id := r.VersionID
	if id == "" {
		id = NullVersion
	}
	ci := candInfo{Name: name, Bucket: r.Bucket, Key: r.Key, VersionID: id, Marker: r.Kind == kindDeleteMarker, ModTime: r.ModTime}
	b, err := ci.encode()
	if err != nil {
		return err
	}
	var k [candWidth]byte
	copy(k[:32], group[:])
	binary.BigEndian.PutUint64(k[32:40], ^recordSeq(r))
	binary.BigEndian.PutUint64(k[40:], uint64(vs.off))
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(b)))
	vs.w.Write(l[:])
	vs.w.Write(b)
	vs.off += int64(len(l) + len(b))
	if err := vs.set.Add(k[:]); err != nil {
		return err
	}
	if h, ok := metaHashOf(name); ok && h == group {
		return vs.own.Add(group[:])
	}
	return nil
}

// recordSeq is the sequence number that orders the versions of a key.
func recordSeq(r *record) uint64 {
	if r.Seq == 0 {
		return r.Generation
	}
	return r.Seq
}

// read returns the details of the candidate at off.
func (vs *versionSpill) read(off int64) (*candInfo, error) {
	var l [4]byte
	if _, err := vs.info.ReadAt(l[:], off); err != nil {
		return nil, fmt.Errorf("version spill: %w", err)
	}
	b := make([]byte, binary.BigEndian.Uint32(l[:]))
	if _, err := vs.info.ReadAt(b, off+4); err != nil {
		return nil, fmt.Errorf("version spill: %w", err)
	}
	ci, err := decodeCandInfo(b)
	if err != nil {
		return nil, fmt.Errorf("version spill: %w", err)
	}
	return ci, nil
}

// close removes the files.
func (vs *versionSpill) close() error {
	err := errors.Join(vs.set.Close(), vs.own.Close())
	vs.tmp.abort()
	return err
}

// versionGroup is the versions of one key, as each returns them.
type versionGroup struct {
	bucket, key string
	group       [32]byte
	ownListed   bool // the key's own record name holds a version record
}

// eachGroup calls fn for every key with versions, in the order of their
// meta hashes, with a function that yields its candidates newest first
// (by sequence number, then version ID), with own, if not nil, placed
// among them. fn must call next until it returns false or stop reading;
// candidates it did not read are skipped. own is called once per group
// to fetch the key's own unversioned record, if any.
func (vs *versionSpill) eachGroup(ctx context.Context, own func(g *versionGroup) *versionCand, fn func(g *versionGroup, next func() (*versionCand, bool, error)) error) error {
	if err := vs.w.Flush(); err != nil {
		return fmt.Errorf("version spill: %w", err)
	}
	it, err := vs.set.Iter()
	if err != nil {
		return err
	}
	oit, err := vs.own.Iter()
	if err != nil {
		return err
	}
	owned := spill.NewCursor(oit)
	var k [candWidth]byte
	kb, ok := it.Next()
	if ok {
		copy(k[:], kb)
	}
	advance := func() {
		kb, ok = it.Next()
		if ok {
			copy(k[:], kb)
		}
	}
	for ok {
		if err := ctx.Err(); err != nil {
			return err
		}
		g := &versionGroup{}
		copy(g.group[:], k[:32])
		first, err := vs.read(int64(binary.BigEndian.Uint64(k[40:])))
		if err != nil {
			return err
		}
		g.bucket, g.key = first.Bucket, first.Key
		if g.ownListed, err = owned.Contains(g.group[:]); err != nil {
			return err
		}
		var extra *versionCand
		if !g.ownListed {
			extra = own(g)
		}
		inGroup := func() bool { return ok && bytes.Equal(k[:32], g.group[:]) }
		// nextRun reads the candidates of the group's next sequence number.
		nextRun := func() ([]versionCand, error) {
			if !inGroup() {
				return nil, nil
			}
			var run []versionCand
			for s := binary.BigEndian.Uint64(k[32:40]); inGroup() && binary.BigEndian.Uint64(k[32:40]) == s; advance() {
				ci, err := vs.read(int64(binary.BigEndian.Uint64(k[40:])))
				if err != nil {
					return nil, err
				}
				run = append(run, versionCand{name: ci.Name, versionID: ci.VersionID, seq: ^s, marker: ci.Marker, modTime: ci.ModTime, deferred: true})
			}
			return run, it.Err()
		}
		pending, err := nextRun()
		if err != nil {
			return err
		}
		var run []versionCand
		next := func() (*versionCand, bool, error) {
			if len(run) == 0 {
				switch {
				case extra != nil && (pending == nil || extra.seq > pending[0].seq):
					run = []versionCand{*extra}
					extra = nil
				case pending == nil:
					return nil, false, nil
				default:
					run = pending
					if extra != nil && extra.seq == pending[0].seq {
						run = append(run, *extra)
						extra = nil
					}
					if pending, err = nextRun(); err != nil {
						return nil, false, err
					}
				}
				slices.SortFunc(run, func(a, b versionCand) int { return strings.Compare(a.versionID, b.versionID) })
			}
			c := run[0]
			run = run[1:]
			return &c, true, nil
		}
		if err := fn(g, next); err != nil {
			return err
		}
		for inGroup() {
			advance()
		}
		if err := it.Err(); err != nil {
			return err
		}
	}
	return it.Err()
}

// tempFile is a file written under a temporary name in a recovery
// directory and renamed into place when complete.
type tempFile struct {
	root *os.Root
	name string
	f    *os.File
	w    *bufio.Writer
}

// createTemp creates a temporary file in dir under root.
func createTemp(root *os.Root, dir string) (*tempFile, error) {
	var rnd [8]byte
	if _, err := io.ReadFull(rand.Reader, rnd[:]); err != nil {
		return nil, err
	}
	name := path.Join(dir, ".twincrypt-recover-"+hex.EncodeToString(rnd[:]))
	f, err := root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	return &tempFile{root: root, name: name, f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

// commit flushes and syncs the file and renames it to to.
func (t *tempFile) commit(to string) error {
	err := t.w.Flush()
	if err == nil {
		err = t.f.Sync()
	}
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = t.root.Rename(t.name, to)
	}
	if err != nil {
		t.root.Remove(t.name)
	}
	return err
}

// abort closes and removes the file, if it was created.
func (t *tempFile) abort() {
	if t.f == nil {
		return
	}
	t.f.Close()
	t.root.Remove(t.name)
}
