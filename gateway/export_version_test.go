package gateway

import "context"

// VersionName returns the backend name of the record the catalog holds
// for one version (its record, else its tombstone), the version's base
// name when it holds neither.
func (ns *Namespace) VersionName(bucket, key, versionID string) string {
	vid := versionID
	if vid == "" {
		vid = NullVersion
	}
	if name, err := ns.RecordName(context.Background(), bucket, key, vid); err == nil {
		return name
	}
	name, _ := ns.names.version(bucket, key, versionID)
	return name
}

// BlobNames returns the backend names of the object's blobs (none for
// an inline object).
func (o *Object) BlobNames() []string {
	var out []string
	for _, p := range o.rec.Parts {
		if p.inline() {
			continue
		}
		out = append(out, blobPrefix+p.Blob)
	}
	return out
}

// DeleteVersionDirect is the deletion of one version as Delete makes it in
// a bucket with versioning, whatever the bucket's versioning (Delete sends
// versionId=null in a bucket without versioning to deleteObject).
func (ns *Namespace) DeleteVersionDirect(ctx context.Context, bucket, key, versionID string) (DeleteResult, error) {
	return ns.deleteVersion(ctx, bucket, key, DeleteOptions{VersionID: versionID})
}

// VersionBase returns the base name of one version's records: what the
// names of its records by generation start with.
func (ns *Namespace) VersionBase(bucket, key, versionID string) string {
	name, _ := ns.names.version(bucket, key, versionID)
	return name
}
