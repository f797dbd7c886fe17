package gateway

// VersionName returns the backend name of the record of one version.
func (ns *Namespace) VersionName(bucket, key, versionID string) string {
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
