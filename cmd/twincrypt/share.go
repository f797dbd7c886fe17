package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/twincrypt/twincrypt/config"
	"github.com/twincrypt/twincrypt/gateway/admin"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/share"
	"github.com/twincrypt/twincrypt/gateway/sharelink"
	"github.com/twincrypt/twincrypt/gateway/tlscert"
)

// envSharePassword holds the password of a password-protected link, for
// `share create --password` and `get`.
const envSharePassword = "TWINCRYPT_SHARE_PASSWORD"

// shares is what the share subcommands need, from a running gateway's admin
// API or from the store opened here.
type shares interface {
	Create(ctx context.Context, o share.CreateOptions) (link string, info *share.Info, err error)
	List(ctx context.Context) ([]*share.Info, error)
	Revoke(ctx context.Context, id string) (*share.Info, error)
	Close() error
}

func runShare(ctx context.Context, c *cli, args []string) error {
	const synopsis = "create|list|revoke -c FILE ..."
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(c.stderr, "usage: twincrypt share %s\n\n", synopsis)
		fmt.Fprintln(c.stderr, "  create -c FILE BUCKET/KEY|BUCKET/PREFIX/ [--expires D] [--max-downloads N] [--password]")
		fmt.Fprintln(c.stderr, "  list   -c FILE")
		fmt.Fprintln(c.stderr, "  revoke -c FILE ID")
		fmt.Fprintln(c.stderr, "\nSee docs/SHARING.md. With 'twincrypt serve' running on the same config, the commands go through its admin API (listen.admin).")
		if len(args) == 0 {
			return fmt.Errorf("%w: missing subcommand", errUsage)
		}
		return flag.ErrHelp
	}
	switch args[0] {
	case "create":
		return runShareCreate(ctx, c, args[1:])
	case "list":
		return runShareList(ctx, c, args[1:])
	case "revoke":
		return runShareRevoke(ctx, c, args[1:])
	}
	return fmt.Errorf("%w: unknown subcommand %q (create, list or revoke)", errUsage, args[0])
}

// parseInterleaved parses flags that may stand before, between and after the
// positional arguments, and returns the positional ones. An argument for
// which isArg (if not nil) is true is positional even if it starts with a
// '-': a share id may (its base64url alphabet has one), and would otherwise
// be taken for an unknown flag.
func parseInterleaved(fs *flag.FlagSet, args []string, isArg func(string) bool) ([]string, error) {
	var pos, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		if isArg != nil && strings.HasPrefix(a, "-") && isArg(a) {
			pos = append(pos, a)
			continue
		}
		rest = append(rest, a)
	}
	for {
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		rest = fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		rest = rest[1:]
	}
}

// isShareID reports whether s is a share link's id.
func isShareID(s string) bool {
	_, err := sharelink.ParseID(s)
	return err == nil
}

func runShareCreate(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "share create", "-c FILE BUCKET/KEY|BUCKET/PREFIX/ [--expires D] [--max-downloads N] [--password]")
	cfgPath := fs.String("c", "", "config `file`")
	expires := fs.String("expires", "", "the link stops opening after this `duration` (90m, 36h, 7d, 2w); default never")
	maxDownloads := fs.Int64("max-downloads", 0, "the link opens at most `N` times; 0: no limit")
	password := fs.Bool("password", false, "also require a password (from "+envSharePassword+" or the terminal)")
	pos, err := parseInterleaved(fs, args, nil)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want one target, BUCKET/KEY or BUCKET/PREFIX/", errUsage)
	}
	o := share.CreateOptions{Target: pos[0], MaxDownloads: *maxDownloads}
	if *maxDownloads < 0 {
		return fmt.Errorf("%w: --max-downloads must not be negative", errUsage)
	}
	if *expires != "" {
		if o.Expires, err = admin.ParseDuration(*expires); err != nil {
			return fmt.Errorf("%w: --expires: %v", errUsage, err)
		}
	}
	if *password {
		if o.Password, err = readPassphrase(c, envSharePassword, "Password for the link: ", true); err != nil {
			return err
		}
		defer clear(o.Password)
	}
	sh, err := openShares(ctx, c, *cfgPath)
	if err != nil {
		return err
	}
	defer sh.Close()
	link, info, err := sh.Create(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "created share %s: %s %s, expires %s, downloads allowed %s\n",
		info.ID, info.Kind, info.Target, when(info.Expires), allowed(info.MaxDownloads))
	fmt.Fprintln(c.stdout, link)
	return nil
}

func runShareList(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "share list", "-c FILE")
	cfgPath := fs.String("c", "", "config `file`")
	pos, err := parseInterleaved(fs, args, nil)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	sh, err := openShares(ctx, c, *cfgPath)
	if err != nil {
		return err
	}
	defer sh.Close()
	infos, err := sh.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTARGET\tCREATED\tEXPIRES\tDOWNLOADS\tSTATE")
	for _, i := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%s\t%s\n", i.ID, i.Target, i.Created.Local().Format(time.DateTime),
			when(i.Expires), i.Downloads, allowed(i.MaxDownloads), i.State)
	}
	return tw.Flush()
}

func runShareRevoke(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "share revoke", "-c FILE ID")
	cfgPath := fs.String("c", "", "config `file`")
	pos, err := parseInterleaved(fs, args, isShareID)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want one share id", errUsage)
	}
	sh, err := openShares(ctx, c, *cfgPath)
	if err != nil {
		return err
	}
	defer sh.Close()
	info, err := sh.Revoke(ctx, pos[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "revoked share %s (%s %s)\n", info.ID, info.Kind, info.Target)
	return nil
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format(time.DateTime)
}

func allowed(n int64) string {
	if n == 0 {
		return "unlimited"
	}
	return fmt.Sprint(n)
}

// openShares reaches the share links of the config at path: through the
// admin API of a gateway serving it, else by opening the store here.
func openShares(ctx context.Context, c *cli, path string) (shares, error) {
	cfg, err := loadConfigFlag(c, path)
	if err != nil {
		return nil, err
	}
	ac, err := newAdminClient(cfg)
	if err != nil {
		return nil, err
	}
	if ac != nil {
		err := ac.alive(ctx)
		if err == nil {
			return ac, nil
		}
		if errors.Is(err, tlscert.ErrUnpinned) {
			return nil, err
		}
	}
	st, err := openStore(ctx, c, cfg, maintenanceLogger(c))
	if errors.Is(err, catalog.ErrInUse) {
		if cfg.Listen.Admin == "" {
			return nil, fmt.Errorf("%w: a gateway serves this config; set listen.admin so that commands can reach it", err)
		}
		return nil, fmt.Errorf("%w: a gateway serves this config, but its admin API at %s does not answer", err, cfg.Listen.Admin)
	}
	if err != nil {
		return nil, err
	}
	svc, err := st.shareService(maintenanceLogger(c), nil)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &localShares{svc: svc, st: st}, nil
}

// shareService returns the share-link service of an open store; when
// downloads is not nil it counts the downloads the service serves.
func (st *store) shareService(log *slog.Logger, downloads *atomic.Int64) (*share.Service, error) {
	base := st.cfg.LinkBase()
	if base == "" {
		return nil, errors.New("no share listener: set listen.share (or share.public_url) in the config")
	}
	var ns share.Namespace = st.ns
	if downloads != nil {
		ns = countingShares{Namespace: st.ns, n: downloads}
	}
	return share.New(share.Options{Namespace: ns, PublicURL: base, TicketKey: st.keys.Derive(share.TicketKeyLabel), Logger: log})
}

// localShares is the share service of a store opened by this process.
type localShares struct {
	svc *share.Service
	st  *store
}

func (l *localShares) Create(ctx context.Context, o share.CreateOptions) (string, *share.Info, error) {
	link, info, err := l.svc.Create(ctx, o)
	if err != nil {
		return "", nil, err
	}
	return link.String(), info, nil
}

func (l *localShares) List(ctx context.Context) ([]*share.Info, error) { return l.svc.List(ctx) }

func (l *localShares) Revoke(ctx context.Context, id string) (*share.Info, error) {
	return l.svc.Revoke(ctx, id)
}

func (l *localShares) Close() error { return l.st.Close() }

// adminClient calls a running gateway's admin API, signing every request
// with the key pair of the config's first administrator.
type adminClient struct {
	base           string
	access, secret string
	http           *http.Client
}

// newAdminClient returns a client for the config's admin listener, or nil
// when it has none. With TLS it speaks https and trusts exactly the
// certificate the admin listener presents (tls.listeners.admin.cert, else
// tls.cert), whatever names that certificate holds: it
// reaches the listener on a loopback address when the listener is on a
// wildcard one.
func newAdminClient(cfg *config.Config) (*adminClient, error) {
	au := cfg.AdminUser()
	if cfg.Listen.Admin == "" || au == nil {
		return nil, nil
	}
	host, port, err := net.SplitHostPort(cfg.Listen.Admin)
	if err != nil {
		return nil, nil
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	hc := &http.Client{Timeout: 10 * time.Minute}
	if cfg.TLS.Enabled() {
		tc, err := tlscert.PinnedClientConfig(cfg.TLS.For("admin").Cert)
		if err != nil {
			return nil, fmt.Errorf("the admin API speaks TLS: %w", err)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc
		// No proxy for the gateway's own loopback listener.
		tr.Proxy = nil
		hc.Transport = tr
	}
	return &adminClient{base: cfg.Scheme() + "://" + net.JoinHostPort(host, port), access: au.AccessKey,
		secret: au.SecretKey, http: hc}, nil
}

// alive returns nil when a gateway answers on the admin listener, and why
// not otherwise.
func (a *adminClient) alive(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin API at %s: %w", a.base, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin API at %s: /healthz answered HTTP %d", a.base, resp.StatusCode)
	}
	return nil
}

// do sends one signed request and decodes a JSON answer into out.
func (a *adminClient) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req = signer.SignV4(*req, a.access, a.secret, "", config.DefaultRegion)
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin API at %s: %w", a.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("admin API at %s: %w", a.base, err)
	}
	if resp.StatusCode/100 != 2 {
		var e admin.ErrorResponse
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s (HTTP %d from the running gateway)", e.Error, resp.StatusCode)
		}
		return fmt.Errorf("admin API at %s: HTTP %d: %s", a.base, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, out)
}

func (a *adminClient) Create(ctx context.Context, o share.CreateOptions) (string, *share.Info, error) {
	req := admin.CreateShareRequest{Target: o.Target, MaxDownloads: o.MaxDownloads}
	if o.Expires > 0 {
		req.ExpiresIn = o.Expires.String()
	}
	if o.Password != nil {
		p := string(o.Password)
		req.Password = &p
	}
	var resp admin.CreateShareResponse
	if err := a.do(ctx, http.MethodPost, "/api/v1/shares", req, &resp); err != nil {
		return "", nil, err
	}
	return resp.Link, resp.Share, nil
}

func (a *adminClient) List(ctx context.Context) ([]*share.Info, error) {
	var resp admin.ListSharesResponse
	err := a.do(ctx, http.MethodGet, "/api/v1/shares", nil, &resp)
	return resp.Shares, err
}

func (a *adminClient) Revoke(ctx context.Context, id string) (*share.Info, error) {
	var info share.Info
	if err := a.do(ctx, http.MethodDelete, "/api/v1/shares/"+id, nil, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

func (a *adminClient) Close() error { return nil }
