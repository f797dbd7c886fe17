package gateway

import (
	"context"
	"fmt"

	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// ListDetailed is List with the full information of every object: Meta
// (such as Content-Type) and Props come from the meta records the catalog
// holds, so a directory listing with every property (WebDAV PROPFIND with
// Depth 1) still does no backend I/O. When the catalog does not return
// records with its listings, each record is fetched from the catalog.
func (ns *Namespace) ListDetailed(ctx context.Context, bucket string, o ListOptions) (ListResult, error) {
	b, err := ns.readableBucket(ctx, bucket)
	if err != nil {
		return ListResult{}, err
	}
	res, err := ns.cat.List(ctx, catalog.ListOptions{Bucket: bucket, Prefix: o.Prefix, Delimiter: o.Delimiter, StartAfter: o.StartAfter, Limit: o.Limit})
	if err != nil {
		return ListResult{}, mapCatalogErr(err, bucket, "")
	}
	out := ListResult{Owner: ns.owner(b.Owner), CommonPrefixes: res.CommonPrefixes, Truncated: res.Truncated, Next: res.Next}
	out.Objects = make([]ObjectInfo, 0, len(res.Entries))
	for _, e := range res.Entries {
		sealed := e.Record
		if len(sealed) == 0 {
			full, err := ns.cat.Get(ctx, e.Bucket, e.Key)
			if err != nil {
				// Deleted since the listing: leave it out.
				continue
			}
			sealed = full.Record
		}
		rec, err := ns.openRecord(sealed, ns.names.entryID(&e))
		if err != nil {
			return ListResult{}, fmt.Errorf("%s/%s: %w", e.Bucket, e.Key, err)
		}
		if err := checkRecord(rec, kindObject, e.Bucket, e.Key); err != nil {
			return ListResult{}, err
		}
		out.Objects = append(out.Objects, rec.info())
	}
	return out, nil
}
