package gateway

import (
	"context"
	"fmt"
	"maps"
	"net/textproto"
)

// MaxPropsSize is the largest total size, in bytes of names and values, of
// the dead properties of one object. They live in its meta record, which
// every listing and PROPFIND reads.
const MaxPropsSize = 64 << 10

// ErrPropsTooLarge means a property change would make an object's dead
// properties larger than MaxPropsSize.
var ErrPropsTooLarge = fmt.Errorf("dead properties larger than %d bytes", MaxPropsSize)

// Props returns the dead properties of bucket/key, as stored by SetProps.
// It reads only the catalog. The map is the caller's; it is nil when the
// object has none.
func (ns *Namespace) Props(ctx context.Context, bucket, key string) (map[string]string, error) {
	if err := ns.Authorize(ctx, bucket, AccessRead); err != nil {
		return nil, err
	}
	o, err := ns.Object(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	return o.Props, nil
}

// SetProps changes the dead properties of bucket/key in one step: it
// removes the names in remove, then sets those in set, and writes a new
// meta record that keeps the object's blobs, ETag, metadata and
// modification time. Either every change is applied or none is.
//
// Names are opaque to the namespace; the WebDAV front end uses
// "{namespace}local" and stores the property's inner XML as the value.
func (ns *Namespace) SetProps(ctx context.Context, bucket, key string, set map[string]string, remove []string) (ObjectInfo, error) {
	if err := ns.Authorize(ctx, bucket, AccessWrite); err != nil {
		return ObjectInfo{}, err
	}
	return ns.SetAttrs(ctx, bucket, key, set, remove, nil)
}

// SetAttrs is SetProps that also changes the object's stored metadata in
// the same step: each entry of meta sets that header (one StoredMeta
// keeps), or removes it when the value is "". The ETag, content and
// modification time stay.
func (ns *Namespace) SetAttrs(ctx context.Context, bucket, key string, set map[string]string, remove []string, meta map[string]string) (ObjectInfo, error) {
	if err := ns.Authorize(ctx, bucket, AccessWrite); err != nil {
		return ObjectInfo{}, err
	}
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, err
	}
	unlock, lerr := ns.lock(ctx, bucket, key)
	if lerr != nil {
		return ObjectInfo{}, lerr
	}
	defer unlock()
	o, err := ns.loadedObject(ctx, bucket, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	props := maps.Clone(o.rec.Props)
	if props == nil {
		props = make(map[string]string, len(set))
	}
	for _, k := range remove {
		delete(props, k)
	}
	maps.Copy(props, set)
	size := 0
	for k, v := range props {
		size += len(k) + len(v)
	}
	if size > MaxPropsSize {
		return ObjectInfo{}, fmt.Errorf("%s/%s: %w", bucket, key, ErrPropsTooLarge)
	}
	if len(props) == 0 {
		props = nil
	}
	newMeta := o.rec.Meta
	if len(meta) > 0 {
		newMeta = maps.Clone(o.rec.Meta)
		if newMeta == nil {
			newMeta = make(map[string]string, len(meta))
		}
		for k, v := range meta {
			ck := textproto.CanonicalMIMEHeaderKey(k)
			if v == "" {
				delete(newMeta, ck)
			} else if len(StoredMeta(map[string]string{ck: v})) == 1 {
				newMeta[ck] = v
			}
		}
	}
	rec := &record{
		Kind: kindObject, Bucket: bucket, Key: key, Size: o.rec.Size, ETag: o.rec.ETag,
		ModTime: o.rec.ModTime, Meta: newMeta, Props: props, Tags: o.rec.Tags, Parts: o.rec.Parts,
		Checksum: o.rec.Checksum,
	}
	// The same blobs stay referenced: commit deletes only superseded ones.
	// IfMatch pins the version read above against writers of other
	// gateway instances.
	return ns.commitLocked(ctx, rec, PutOptions{IfMatch: o.rec.ETag, inPlace: true})
}
