package catalogtest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twincrypt/twincrypt/backends/replica"
)

func runQueue(t *testing.T, newQueue func(t *testing.T) replica.Queue) {
	tests := []struct {
		name string
		fn   func(t *testing.T, q replica.Queue)
	}{
		{"Order", testQueueOrder},
		{"Replace", testQueueReplace},
		{"Remove", testQueueRemove},
		{"Invalid", testQueueInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newQueue(t)) })
	}
}

func taskString(t replica.Task) string {
	return fmt.Sprintf("%s:%q:%v@%s", t.Backend, t.Name, t.Op, t.Added.UTC().Format(time.RFC3339Nano))
}

func taskStrings(ts []replica.Task) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, taskString(t))
	}
	return out
}

func pending(t *testing.T, q replica.Queue, limit int) []replica.Task {
	t.Helper()
	ts, err := q.Pending(t.Context(), limit)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	return ts
}

func testQueueOrder(t *testing.T, q replica.Queue) {
	if ts := pending(t, q, 10); len(ts) != 0 {
		t.Fatalf("new queue holds %v", taskStrings(ts))
	}
	tasks := []replica.Task{
		{Backend: "zurich", Name: "b/3", Op: replica.OpPut, Added: t0.Add(3 * time.Second)},
		{Backend: "frankfurt", Name: "m/1", Op: replica.OpDelete, Added: t0.Add(time.Second)},
		{Backend: "frankfurt", Name: "b/2", Op: replica.OpPut, Added: t0.Add(2 * time.Second)},
		{Backend: "zurich", Name: "b/2", Op: replica.OpPut, Added: t0.Add(2 * time.Second)},
		{Backend: "a", Name: "early", Op: replica.OpPut, Added: t0.Add(-time.Hour).In(time.FixedZone("X", 3600))},
		{Backend: "a", Name: "nanos", Op: replica.OpPut, Added: t0.Add(time.Nanosecond)},
	}
	if err := q.Add(t.Context(), tasks[:3]...); err != nil {
		t.Fatal(err)
	}
	if err := q.Add(t.Context(), tasks[3:]...); err != nil {
		t.Fatal(err)
	}
	// Oldest first; equal times by backend, then name.
	want := taskStrings([]replica.Task{tasks[4], tasks[5], tasks[1], tasks[2], tasks[3], tasks[0]})
	if got := taskStrings(pending(t, q, 0)); !slices.Equal(got, want) {
		t.Errorf("Pending(0) =\n%q\nwant\n%q", got, want)
	}
	if got := taskStrings(pending(t, q, 2)); !slices.Equal(got, want[:2]) {
		t.Errorf("Pending(2) = %q, want %q", got, want[:2])
	}
	// Returned tasks remove exactly what they name.
	for _, task := range pending(t, q, 0) {
		if err := q.Remove(t.Context(), task); err != nil {
			t.Fatal(err)
		}
	}
	if ts := pending(t, q, 0); len(ts) != 0 {
		t.Errorf("after removing every pending task: %q", taskStrings(ts))
	}
}

func testQueueReplace(t *testing.T, q replica.Queue) {
	ctx := t.Context()
	old := replica.Task{Backend: "b1", Name: "m/x", Op: replica.OpPut, Added: t0}
	newer := replica.Task{Backend: "b1", Name: "m/x", Op: replica.OpDelete, Added: t0.Add(time.Minute)}
	other := replica.Task{Backend: "b2", Name: "m/x", Op: replica.OpPut, Added: t0.Add(time.Second)}
	if err := q.Add(ctx, old, other); err != nil {
		t.Fatal(err)
	}
	if err := q.Add(ctx, newer); err != nil {
		t.Fatal(err)
	}
	want := taskStrings([]replica.Task{other, newer})
	if got := taskStrings(pending(t, q, 0)); !slices.Equal(got, want) {
		t.Errorf("after replacing: %q, want %q", got, want)
	}
	// Replacing with an older time moves the task forward.
	older := replica.Task{Backend: "b1", Name: "m/x", Op: replica.OpPut, Added: t0.Add(-time.Minute)}
	if err := q.Add(ctx, older); err != nil {
		t.Fatal(err)
	}
	want = taskStrings([]replica.Task{older, other})
	if got := taskStrings(pending(t, q, 0)); !slices.Equal(got, want) {
		t.Errorf("after replacing with an older task: %q, want %q", got, want)
	}
}

func testQueueRemove(t *testing.T, q replica.Queue) {
	ctx := t.Context()
	task := replica.Task{Backend: "b1", Name: "b/blob", Op: replica.OpPut, Added: t0}
	if err := q.Add(ctx, task); err != nil {
		t.Fatal(err)
	}
	mismatches := []replica.Task{
		{Backend: "b1", Name: "b/blob", Op: replica.OpDelete, Added: t0},
		{Backend: "b1", Name: "b/blob", Op: replica.OpPut, Added: t0.Add(time.Nanosecond)},
		{Backend: "b2", Name: "b/blob", Op: replica.OpPut, Added: t0},
		{Backend: "b1", Name: "b/other", Op: replica.OpPut, Added: t0},
	}
	for _, m := range mismatches {
		if err := q.Remove(ctx, m); err != nil {
			t.Errorf("Remove(%s): %v", taskString(m), err)
		}
		if ts := pending(t, q, 0); len(ts) != 1 {
			t.Fatalf("Remove(%s) removed %s", taskString(m), taskString(task))
		}
	}
	// The same instant in another zone is equal.
	same := task
	same.Added = t0.In(time.FixedZone("Y", -7200))
	if err := q.Remove(ctx, same); err != nil {
		t.Fatal(err)
	}
	if ts := pending(t, q, 0); len(ts) != 0 {
		t.Errorf("Remove of the stored task left %q", taskStrings(ts))
	}
	if err := q.Remove(ctx, task); err != nil {
		t.Errorf("Remove of a missing task: %v", err)
	}
}

func testQueueInvalid(t *testing.T, q replica.Queue) {
	bad := []replica.Task{
		{Name: "n", Op: replica.OpPut, Added: t0},
		{Backend: "b", Op: replica.OpPut, Added: t0},
		{Backend: "b", Name: "n", Op: 0, Added: t0},
		{Backend: "b", Name: "n", Op: 9, Added: t0},
	}
	good := replica.Task{Backend: "b", Name: "good", Op: replica.OpPut, Added: t0}
	for _, b := range bad {
		if err := q.Add(t.Context(), good, b); !errors.Is(err, replica.ErrInvalidTask) {
			t.Errorf("Add(%+v): err = %v, want ErrInvalidTask", b, err)
		}
	}
	if ts := pending(t, q, 0); len(ts) != 0 {
		t.Errorf("a failed Add stored %q", taskStrings(ts))
	}
}
