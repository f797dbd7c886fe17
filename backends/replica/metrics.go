package replica

import "sync/atomic"

// Traffic counts the data a replicated set moved to and from its members
// since it was created. It lets an operator or a benchmark check, for
// example, that a small range read fetches only the chunks that cover it.
type Traffic struct {
	// Reads counts member streams opened by Get: one per member tried,
	// failovers included.
	Reads int64
	// RequestedBytes sums the lengths of the ranges those streams asked
	// for; streams to the end of an object are not counted.
	RequestedBytes int64
	// ReadBytes counts bytes read from members by Get readers.
	ReadBytes int64
	// WrittenBytes counts bytes handed to members by Put, summed over
	// members: a blob written to two members counts twice.
	WrittenBytes int64
}

// traffic holds a Set's counters.
type traffic struct {
	reads, requestedBytes, readBytes, writtenBytes atomic.Int64
}

// Traffic returns the set's counters.
func (s *Set) Traffic() Traffic {
	return Traffic{
		Reads:          s.traffic.reads.Load(),
		RequestedBytes: s.traffic.requestedBytes.Load(),
		ReadBytes:      s.traffic.readBytes.Load(),
		WrittenBytes:   s.traffic.writtenBytes.Load(),
	}
}
