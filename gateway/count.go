package gateway

import (
	"context"
	"fmt"

	"github.com/twincrypt/twincrypt/backends"
)

// MetaCount is what CountMetaRecords found on a backend.
type MetaCount struct {
	// Names counts every name under the meta-record prefix: what Recover
	// goes through.
	Names int
	// Records counts the names of meta records among them: what
	// RebuildCatalog reads.
	Records int
}

// CountMetaRecords counts the names under the meta-record prefix on b that
// sort after after (every one for ""), to give the progress of
// RebuildCatalog and Recover a total before they start. It lists names
// only, a page of listPage at a time, and reads no record: a local
// backend reads its directories, an S3 provider answers a request per
// 1,000 names, against the one request per record of the reading that
// follows. Memory is that of one page. progress, when set, is called
// after every page with the counts so far.
//
// The counts are those of the moment of the listing: records written or
// deleted before the reading gets there make it read more or fewer.
func CountMetaRecords(ctx context.Context, b backends.Backend, after string, progress func(MetaCount)) (MetaCount, error) {
	var n MetaCount
	for {
		page, err := b.List(ctx, metaPrefix, after, listPage)
		if err != nil {
			return n, fmt.Errorf("count meta records on %s: %w", b.Name(), err)
		}
		for _, it := range page.Items {
			n.Names++
			if _, ok := metaHashOf(it.Name); ok {
				n.Records++
			}
		}
		if progress != nil {
			progress(n)
		}
		if page.Next == "" || len(page.Items) == 0 {
			return n, nil
		}
		after = page.Next
	}
}
