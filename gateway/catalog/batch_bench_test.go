package catalog_test

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// BenchmarkParallelPut measures durable Puts from 8 concurrent writers, as
// a gateway serving 8 uploads of small objects does.
func BenchmarkParallelPut(b *testing.B) {
	c, err := catalog.OpenBolt(filepath.Join(b.TempDir(), "c.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := b.Context()
	if err := c.CreateBucket(ctx, catalog.Bucket{Name: "b", Created: time.Now()}); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(4) // 8 writers on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			e := catalog.Entry{Bucket: "b", Key: fmt.Sprintf("k%09d", i), Size: 4096, ETag: "e", ModTime: time.Now(), Generation: 1, Record: make([]byte, 400)}
			if _, err := c.Put(ctx, e); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
