package replica

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Op is the kind of repair a Task asks for.
type Op uint8

const (
	// OpPut means the member lacks the current object (or holds a damaged
	// copy) and must receive it from a member that has it.
	OpPut Op = 1
	// OpDelete means the member still holds an object that was deleted
	// from the others.
	OpDelete Op = 2
)

// String returns "put", "delete" or "op(N)".
func (o Op) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	default:
		return fmt.Sprintf("op(%d)", uint8(o))
	}
}

// Task says one member lacks the current state of one object.
type Task struct {
	Backend string    // member backend name
	Name    string    // object name
	Op      Op        // what the member must be brought to
	Added   time.Time // when the task was recorded
}

// Queue is a durable queue of repair tasks, at most one per (Backend, Name).
// Implementations must be safe for concurrent use.
type Queue interface {
	// Add stores tasks, each replacing any existing task for the same
	// (Backend, Name).
	Add(ctx context.Context, tasks ...Task) error
	// Pending returns up to limit tasks, oldest first.
	Pending(ctx context.Context, limit int) ([]Task, error)
	// Remove deletes the stored task for (t.Backend, t.Name) only if it
	// still equals t (same Op and Added): a newer Add wins.
	Remove(ctx context.Context, t Task) error
}

type taskKey struct{ backend, name string }

// MemQueue is an in-memory Queue for tests and single-process use. It is
// not durable: tasks are lost when the process exits. The zero value is
// not usable; call NewMemQueue.
type MemQueue struct {
	mu    sync.Mutex
	tasks map[taskKey]Task
}

// NewMemQueue returns an empty in-memory queue.
func NewMemQueue() *MemQueue {
	return &MemQueue{tasks: make(map[taskKey]Task)}
}

// Add implements Queue.
func (q *MemQueue) Add(ctx context.Context, tasks ...Task) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("replica: queue add: %w", err)
	}
	for _, t := range tasks {
		if t.Backend == "" || t.Name == "" || (t.Op != OpPut && t.Op != OpDelete) {
			return fmt.Errorf("replica: queue add: %w: %+v", ErrInvalidTask, t)
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, t := range tasks {
		q.tasks[taskKey{t.Backend, t.Name}] = t
	}
	return nil
}

// Pending implements Queue. limit <= 0 returns every task.
func (q *MemQueue) Pending(ctx context.Context, limit int) ([]Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("replica: queue pending: %w", err)
	}
	q.mu.Lock()
	out := make([]Task, 0, len(q.tasks))
	for _, t := range q.tasks {
		out = append(out, t)
	}
	q.mu.Unlock()
	slices.SortFunc(out, func(a, b Task) int {
		if c := a.Added.Compare(b.Added); c != 0 {
			return c
		}
		if c := strings.Compare(a.Backend, b.Backend); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Remove implements Queue.
func (q *MemQueue) Remove(ctx context.Context, t Task) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("replica: queue remove: %w", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	k := taskKey{t.Backend, t.Name}
	if cur, ok := q.tasks[k]; ok && cur.Op == t.Op && cur.Added.Equal(t.Added) {
		delete(q.tasks, k)
	}
	return nil
}

// Len returns the number of stored tasks.
func (q *MemQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.tasks)
}
