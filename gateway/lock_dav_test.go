package gateway

import (
	"fmt"
	"testing"
)

// TestLockIndexMatchesLock guards lockPair: it must take the very locks
// that lock takes, or renames would not exclude other writers.
func TestLockIndexMatchesLock(t *testing.T) {
	ns := &Namespace{}
	for i := range 200 {
		bucket, key := fmt.Sprintf("bucket%d", i%3), fmt.Sprintf("key/%d", i)
		unlock := ns.lock(bucket, key)
		if ns.locks[ns.lockIndex(bucket, key)].TryLock() {
			t.Fatalf("lockIndex(%q, %q) names a lock that lock did not take", bucket, key)
		}
		unlock()
		release := ns.lockPair(bucket, key, "other", key)
		if ns.locks[ns.lockIndex(bucket, key)].TryLock() || ns.locks[ns.lockIndex("other", key)].TryLock() {
			t.Fatalf("lockPair(%q, %q) did not take both locks", bucket, key)
		}
		release()
	}
	for i := range ns.locks {
		if !ns.locks[i].TryLock() {
			t.Fatalf("lock %d still held", i)
		}
		ns.locks[i].Unlock()
	}
}
