package catalog

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/twincrypt/twincrypt/backends/replica"
)

// The repair queue keeps one value per (backend, name) in bkQueue and an
// index ordered by the time a task was added in bkQueueTime, whose keys are
// the biased big-endian Unix nanoseconds followed by the task key.

// taskKey orders tasks by backend, then name.
func taskKey(backend, name string) []byte {
	return append(escape(nil, backend), name...)
}

// timeKey orders int64 nanoseconds as unsigned bytes.
func timeKey(nanos int64, tk []byte) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(tk)), uint64(nanos)^(1<<63))
	return append(k, tk...)
}

func encodeTask(op replica.Op, nanos int64) []byte {
	enc := newEncoder()
	enc.Uvarint(uint64(op))
	enc.Varint(nanos)
	return enc.B
}

func decodeTask(v []byte) (replica.Op, int64, error) {
	d := newDecoder(v, "repair task", "")
	op := replica.Op(d.Uvarint())
	nanos := d.Varint()
	return op, nanos, d.Done()
}

func checkTask(t replica.Task) error {
	if t.Backend == "" || t.Name == "" || (t.Op != replica.OpPut && t.Op != replica.OpDelete) {
		return fmt.Errorf("%w: %+v", replica.ErrInvalidTask, t)
	}
	return nil
}

// Add implements replica.Queue: each task replaces any stored task for the
// same (Backend, Name).
func (c *Bolt) Add(ctx context.Context, tasks ...replica.Task) error {
	for _, t := range tasks {
		if err := checkTask(t); err != nil {
			return fmt.Errorf("catalog queue add: %w", err)
		}
	}
	return c.update(ctx, "queue add", func(tx *bbolt.Tx) error {
		q, qt := tx.Bucket(bkQueue), tx.Bucket(bkQueueTime)
		for _, t := range tasks {
			tk := taskKey(t.Backend, t.Name)
			if v := q.Get(tk); v != nil {
				_, nanos, err := decodeTask(v)
				if err != nil {
					return err
				}
				if err := qt.Delete(timeKey(nanos, tk)); err != nil {
					return err
				}
			}
			nanos := t.Added.UnixNano()
			if err := q.Put(tk, encodeTask(t.Op, nanos)); err != nil {
				return err
			}
			if err := qt.Put(timeKey(nanos, tk), nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// Pending implements replica.Queue: up to limit tasks (all when limit <=
// 0), oldest first, ties by backend and then name. Added is returned in
// UTC with nanosecond precision.
func (c *Bolt) Pending(ctx context.Context, limit int) ([]replica.Task, error) {
	var out []replica.Task
	err := c.view(ctx, "queue pending", func(tx *bbolt.Tx) error {
		q := tx.Bucket(bkQueue)
		cur := tx.Bucket(bkQueueTime).Cursor()
		for k, _ := cur.First(); k != nil; k, _ = cur.Next() {
			if limit > 0 && len(out) == limit {
				break
			}
			if len(k) < 8 {
				return fmt.Errorf("%w: repair queue index key", ErrCorrupt)
			}
			tk := k[8:]
			backend, name, err := unescape(tk)
			if err != nil {
				return err
			}
			v := q.Get(tk)
			if v == nil {
				return fmt.Errorf("%w: repair queue index names a missing task", ErrCorrupt)
			}
			op, nanos, err := decodeTask(v)
			if err != nil {
				return err
			}
			out = append(out, replica.Task{Backend: backend, Name: string(name), Op: op, Added: time.Unix(0, nanos).UTC()})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// QueueLen counts the tasks on the repair queue without reading them (the
// metrics' queue depth).
func (c *Bolt) QueueLen(ctx context.Context) (int, error) {
	var n int
	err := c.view(ctx, "queue length", func(tx *bbolt.Tx) error {
		n = tx.Bucket(bkQueue).Stats().KeyN
		return nil
	})
	return n, err
}

// Remove implements replica.Queue: it deletes the stored task for
// (t.Backend, t.Name) only if it has the same Op and Added, so a task
// re-added meanwhile survives.
func (c *Bolt) Remove(ctx context.Context, t replica.Task) error {
	return c.update(ctx, "queue remove", func(tx *bbolt.Tx) error {
		q := tx.Bucket(bkQueue)
		tk := taskKey(t.Backend, t.Name)
		v := q.Get(tk)
		if v == nil {
			return nil
		}
		op, nanos, err := decodeTask(v)
		if err != nil {
			return err
		}
		if op != t.Op || nanos != t.Added.UnixNano() {
			return nil
		}
		if err := tx.Bucket(bkQueueTime).Delete(timeKey(nanos, tk)); err != nil {
			return err
		}
		return q.Delete(tk)
	})
}
