package main

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/twincrypt/twincrypt/backends/replica"
	"github.com/twincrypt/twincrypt/gateway"
	"github.com/twincrypt/twincrypt/gateway/catalog"
	"github.com/twincrypt/twincrypt/gateway/guard"
	"github.com/twincrypt/twincrypt/gateway/metrics"
	"github.com/twincrypt/twincrypt/gateway/share"
)

// newMetrics returns the metrics of a serving store: its providers, its
// repair queue and catalog, the share downloads counted by downloads and
// the logins throttle refused.
func newMetrics(st *store, throttle *guard.Throttle, downloads *atomic.Int64) *metrics.Metrics {
	return metrics.New(metrics.Sources{
		Health:  st.set.Health,
		Traffic: st.set.Traffic,
		QueueDepth: func(ctx context.Context) (int, error) {
			if q, ok := st.set.Queue().(interface {
				QueueLen(context.Context) (int, error)
			}); ok {
				return q.QueueLen(ctx) // the catalog's: no task is read
			}
			tasks, err := st.set.Queue().Pending(ctx, 0)
			return len(tasks), err
		},
		Stored: func(ctx context.Context) (objects, bytes int64, err error) {
			return storedTotals(ctx, st.cat)
		},
		ShareDownloads: downloads.Load,
		LoginRefused:   throttle.Refused,
	})
}

// storedTotals counts the catalog's objects and their plaintext bytes.
func storedTotals(ctx context.Context, cat catalog.Catalog) (objects, bytes int64, err error) {
	err = cat.Walk(ctx, func(e catalog.Entry) error {
		objects++
		bytes += e.Size
		return nil
	})
	return objects, bytes, err
}

// operation returns what names the operation of a request to the
// listener called name.
func operation(name string) func(*http.Request) string {
	switch name {
	case metrics.S3:
		return metrics.S3Operation
	case metrics.WebDAV:
		return metrics.WebDAVOperation
	case metrics.Share:
		return metrics.ShareOperation
	}
	return metrics.AdminOperation
}

// readiness returns the check of /readyz: the catalog answers, and at
// least min_writes providers take requests.
func readiness(st *store) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if _, err := st.cat.ListBuckets(ctx); err != nil {
			return fmt.Errorf("the catalog does not answer: %v", err)
		}
		up := 0
		var down []string
		for _, h := range st.set.Health() {
			if h.State == replica.StateUp {
				up++
			} else {
				down = append(down, h.Name)
			}
		}
		if need := st.set.MinWrites(); up < need {
			return fmt.Errorf("%d providers up, %d needed for a write (down: %v)", up, need, down)
		}
		return nil
	}
}

// countingShares counts the share downloads of a namespace.
type countingShares struct {
	share.Namespace
	n *atomic.Int64
}

func (c countingShares) CountShareDownload(ctx context.Context, id string) (*gateway.ShareRecord, error) {
	r, err := c.Namespace.CountShareDownload(ctx, id)
	if err == nil {
		c.n.Add(1)
	}
	return r, err
}
