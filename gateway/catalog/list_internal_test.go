package catalog

import (
	"fmt"
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"
)

// countingCursor counts the cursor steps a listing takes.
type countingCursor struct {
	c     *bbolt.Cursor
	steps int
}

func (c *countingCursor) Seek(k []byte) ([]byte, []byte) { c.steps++; return c.c.Seek(k) }
func (c *countingCursor) Next() ([]byte, []byte)         { c.steps++; return c.c.Next() }

func TestListSeeksPastCommonPrefixes(t *testing.T) {
	const folders, perFolder = 10, 2000
	cat, err := OpenBolt(filepath.Join(t.TempDir(), "c.db"), WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	ctx := t.Context()
	if err := cat.CreateBucket(ctx, Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	// Load in one transaction: this test is about reading.
	err = cat.db.Update(func(tx *bbolt.Tx) error {
		ob := tx.Bucket(bkObjects).Bucket([]byte("b"))
		for d := range folders {
			for i := range perFolder {
				k := fmt.Sprintf("dir%d/sub/f%05d", d, i)
				if err := ob.Put([]byte(k), encodeEntry(&Entry{Generation: 1})); err != nil {
					return err
				}
			}
		}
		return ob.Put([]byte("top"), encodeEntry(&Entry{Generation: 1}))
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		o        ListOptions
		items    int
		maxSteps int
	}{
		{"top level", ListOptions{Delimiter: "/"}, folders + 1, folders + 3},
		{"top level, page of 3", ListOptions{Delimiter: "/", Limit: 3}, 3, 5},
		{"top level after dir4/", ListOptions{Delimiter: "/", StartAfter: "dir4/"}, folders - 5 + 1, folders - 5 + 3},
		{"one folder", ListOptions{Prefix: "dir7/", Delimiter: "/"}, 1, 3},
		{"page of keys", ListOptions{Prefix: "dir7/sub/", Delimiter: "/", Limit: 100}, 100, 102},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit := tt.o.Limit
			if limit <= 0 {
				limit = DefaultLimit
			}
			var cc countingCursor
			var res ListResult
			err := cat.db.View(func(tx *bbolt.Tx) error {
				cc.c = tx.Bucket(bkObjects).Bucket([]byte("b")).Cursor()
				var err error
				res, err = listCursor(&cc, tt.o, limit)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(res.Entries) + len(res.CommonPrefixes); n != tt.items {
				t.Errorf("listed %d items, want %d", n, tt.items)
			}
			if cc.steps > tt.maxSteps {
				t.Errorf("took %d cursor steps, want at most %d", cc.steps, tt.maxSteps)
			}
		})
	}
}
