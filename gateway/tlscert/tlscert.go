// Package tlscert holds the TLS certificate the gateway's listeners present:
// a key pair read from PEM files, swapped for a new one by Reload without
// dropping a connection (a handshake reads the current pair; a connection
// keeps the pair it was set up with), and the client side of the same files,
// a configuration that trusts exactly that certificate, for the command line
// that talks to its own gateway.
package tlscert

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// MinVersion is the oldest TLS version the listeners accept.
const MinVersion = tls.VersionTLS12

// ErrNoCertificate is wrapped when a certificate file holds no PEM
// CERTIFICATE block.
var ErrNoCertificate = errors.New("no PEM certificate")

// ErrUnpinned is wrapped when a server presents a certificate other than the
// one a pinned client configuration trusts.
var ErrUnpinned = errors.New("the server presents another certificate than the configured one")

// Cert is a reloadable certificate and key pair. Its methods are safe for
// concurrent use.
type Cert struct {
	certFile, keyFile string

	cur atomic.Pointer[tls.Certificate]
	// mu serialises Reload.
	mu       sync.Mutex
	failures atomic.Int64
	reloads  atomic.Int64
}

// Load reads the PEM certificate chain in certFile and its private key in
// keyFile and returns them as a Cert. The first certificate of certFile is
// the one presented (the leaf); the rest are sent along as its chain.
func Load(certFile, keyFile string) (*Cert, error) {
	c := &Cert{certFile: certFile, keyFile: keyFile}
	pair, err := c.read()
	if err != nil {
		return nil, err
	}
	c.cur.Store(pair)
	return c, nil
}

// read loads and checks the pair from the files.
func (c *Cert) read() (*tls.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	if pair.Leaf == nil {
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("TLS certificate %s: %w", c.certFile, err)
		}
		pair.Leaf = leaf
	}
	return &pair, nil
}

// Reload reads the files again and, if they hold a valid pair, presents it
// to every handshake from now on. Connections already set up keep theirs.
// When the files do not hold a valid pair, the current one stays in use and
// Reload returns why (and Failures counts it).
func (c *Cert) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	pair, err := c.read()
	if err != nil {
		c.failures.Add(1)
		return err
	}
	c.cur.Store(pair)
	c.reloads.Add(1)
	return nil
}

// Current returns the pair handshakes present now; its Leaf is set. The
// caller must not modify it.
func (c *Cert) Current() *tls.Certificate { return c.cur.Load() }

// Failures counts the Reload calls that kept the old pair.
func (c *Cert) Failures() int64 { return c.failures.Load() }

// Reloads counts the Reload calls that put a new pair in use.
func (c *Cert) Reloads() int64 { return c.reloads.Load() }

// Files returns the certificate and key file names.
func (c *Cert) Files() (certFile, keyFile string) { return c.certFile, c.keyFile }

// ServerConfig returns a server configuration that presents the current
// pair at every handshake, accepts TLS 1.2 and later, and offers HTTP/1.1
// only: the listeners' defences are built on HTTP/1.1 connections (a
// connection limit that bounds clients, and refused or stalled uploads
// that end their connection with "Connection: close" or by closing it),
// which HTTP/2 would multiplex many requests over; S3 and WebDAV clients
// speak HTTP/1.1 anyway (docs/CONFIG.md, "TLS").
func (c *Cert) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: MinVersion,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cur.Load(), nil
		},
	}
}

// Validity reports when the current certificate stops being valid, and a
// problem with its validity period at time now, if it has one: it is
// expired or not yet valid.
func (c *Cert) Validity(now time.Time) (notAfter time.Time, problem error) {
	leaf := c.cur.Load().Leaf
	switch {
	case now.After(leaf.NotAfter):
		problem = fmt.Errorf("the TLS certificate %s expired at %s", c.certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		problem = fmt.Errorf("the TLS certificate %s is valid only from %s", c.certFile, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return leaf.NotAfter, problem
}

// PinnedClientConfig returns a client configuration that accepts exactly
// the certificate that comes first in certFile, whatever the name it was
// issued for and whoever signed it: the command line reaches its own
// gateway on a loopback address, which the certificate need not name. Only
// the certificate file is read, never the key.
func PinnedClientConfig(certFile string) (*tls.Config, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	var leaf []byte
	for len(data) > 0 {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			leaf = b.Bytes
			break
		}
	}
	if leaf == nil {
		return nil, fmt.Errorf("TLS certificate %s: %w", certFile, ErrNoCertificate)
	}
	if _, err := x509.ParseCertificate(leaf); err != nil {
		return nil, fmt.Errorf("TLS certificate %s: %w", certFile, err)
	}
	return &tls.Config{
		MinVersion: MinVersion,
		// The standard verification (names, issuers) is replaced by
		// the comparison below, which is stricter: one certificate.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, leaf) {
				return fmt.Errorf("%w (%s): if the file was replaced, send the gateway SIGHUP", ErrUnpinned, certFile)
			}
			return nil
		},
	}, nil
}
