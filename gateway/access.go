package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twincrypt/twincrypt/gateway/catalog"
)

// ErrAccessDenied means the user of a request may not do what it asks to
// the bucket: it neither owns the bucket nor holds a grant strong enough.
var ErrAccessDenied = errors.New("access denied")

// ErrBucketOwnedByYou is wrapped, beside ErrBucketExists, when a user
// creates a bucket it already owns.
var ErrBucketOwnedByYou = errors.New("bucket already owned by you")

// Access is what a request needs of a bucket, from weakest to strongest.
type Access int

// Access levels. A grant gives AccessRead or AccessWrite; AccessOwner is
// the owner's alone.
const (
	// AccessNone is no access at all.
	AccessNone Access = iota
	// AccessRead reads and lists objects, and reads the bucket's
	// settings (tags, CORS, ACL).
	AccessRead
	// AccessWrite also writes and deletes objects and multipart uploads.
	AccessWrite
	// AccessOwner also changes the bucket's settings and deletes it.
	AccessOwner
)

// String names the access level.
func (a Access) String() string {
	switch a {
	case AccessRead:
		return "read"
	case AccessWrite:
		return "read-write"
	case AccessOwner:
		return "owner"
	}
	return "none"
}

// User is a configured user as the namespace knows it: who it is, and the
// buckets of other users it may use.
type User struct {
	// AccessKey is the user's S3 access key and WebDAV login.
	AccessKey string
	// ID is the owner id buckets belong to (an S3 canonical user id).
	ID string
	// DisplayName is shown beside ID.
	DisplayName string
	// Grants maps bucket names to the access the user has to them when
	// another user owns them (AccessRead or AccessWrite).
	Grants map[string]Access
}

// Owner is the owner of a bucket as S3 shows it.
type Owner struct {
	ID, DisplayName string
}

// BucketGrant is one user's access to a bucket it does not own.
type BucketGrant struct {
	Grantee Owner
	Access  Access
}

// BucketACL is who may use a bucket: its owner and the grants of the
// configuration.
type BucketACL struct {
	Owner  Owner
	Grants []BucketGrant // sorted by grantee id
}

type userKey struct{}

// WithUser returns ctx carrying the authenticated user of a request. The
// front ends attach it to every request they pass on; the namespace then
// allows only what that user may do. Without one (maintenance passes,
// share pages, which have their own keys) the namespace allows everything;
// a nil u removes the user of ctx, for reads done on behalf of nobody in
// particular (the CORS rules that answer anonymous preflights).
func WithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the user WithUser attached to ctx.
func UserFrom(ctx context.Context) (*User, bool) {
	u, ok := ctx.Value(userKey{}).(*User)
	return u, ok && u != nil
}

// User returns the configured user with the access key, or false.
func (ns *Namespace) User(accessKey string) (*User, bool) {
	for i := range ns.users {
		if ns.users[i].AccessKey == accessKey {
			return &ns.users[i], true
		}
	}
	return nil, false
}

// UserContext returns ctx carrying the configured user with accessKey, the
// way both front ends attach the user they authenticated. A namespace with
// no configured users (tests of a front end alone) leaves ctx as it is; an
// access key it does not know is ErrAccessDenied.
func (ns *Namespace) UserContext(ctx context.Context, accessKey string) (context.Context, error) {
	if len(ns.users) == 0 {
		return ctx, nil
	}
	u, ok := ns.User(accessKey)
	if !ok {
		return ctx, fmt.Errorf("%w: unknown user %q", ErrAccessDenied, accessKey)
	}
	return WithUser(ctx, u), nil
}

// ownerOf returns the owner id of a bucket whose stored owner id is owner:
// owner, or for a bucket made before buckets had owners, the first
// configured user's.
func (ns *Namespace) ownerOf(owner string) string {
	if owner == "" && len(ns.users) > 0 {
		return ns.users[0].ID
	}
	return owner
}

// accessTo returns the access u has to a bucket whose owner id is owner.
func (ns *Namespace) accessTo(u *User, bucket, owner string) Access {
	if ns.ownerOf(owner) == u.ID {
		return AccessOwner
	}
	return u.Grants[bucket]
}

// Authorize returns nil when the user of ctx may have want of bucket,
// ErrAccessDenied (wrapped) when not. A bucket that does not exist is
// allowed, so that the operation itself answers that it does not exist;
// the owner of a name that is taken is told apart by CreateBucket.
func (ns *Namespace) Authorize(ctx context.Context, bucket string, want Access) error {
	u, ok := UserFrom(ctx)
	if !ok {
		return nil
	}
	b, err := ns.cat.GetBucket(ctx, bucket)
	if err != nil {
		if errors.Is(err, catalog.ErrNoSuchBucket) {
			return nil
		}
		return mapCatalogErr(err, bucket, "")
	}
	if ns.accessTo(u, bucket, b.Owner) < want {
		return fmt.Errorf("%w: %s may not %s bucket %s", ErrAccessDenied, u.AccessKey, verb(want), bucket)
	}
	return nil
}

// verb says what access level want allows, for error messages.
func verb(want Access) string {
	switch want {
	case AccessRead:
		return "read"
	case AccessWrite:
		return "write to"
	}
	return "change the settings of"
}

// owner returns the owner of the bucket whose stored owner id is id.
func (ns *Namespace) owner(id string) Owner {
	id = ns.ownerOf(id)
	for _, u := range ns.users {
		if u.ID == id {
			return Owner{ID: u.ID, DisplayName: u.DisplayName}
		}
	}
	return Owner{ID: id, DisplayName: id}
}

// BucketACL returns the owner of bucket and the grants other users hold on
// it; the user of ctx needs read access.
func (ns *Namespace) BucketACL(ctx context.Context, bucket string) (BucketACL, error) {
	if err := ns.Authorize(ctx, bucket, AccessRead); err != nil {
		return BucketACL{}, err
	}
	b, err := ns.cat.GetBucket(ctx, bucket)
	if err != nil {
		return BucketACL{}, mapCatalogErr(err, bucket, "")
	}
	acl := BucketACL{Owner: ns.owner(b.Owner)}
	for i := range ns.users {
		u := &ns.users[i]
		if u.ID == acl.Owner.ID {
			continue
		}
		if a := u.Grants[bucket]; a > AccessNone {
			acl.Grants = append(acl.Grants, BucketGrant{Grantee: Owner{ID: u.ID, DisplayName: u.DisplayName}, Access: a})
		}
	}
	slices.SortFunc(acl.Grants, func(a, b BucketGrant) int { return strings.Compare(a.Grantee.ID, b.Grantee.ID) })
	return acl, nil
}
