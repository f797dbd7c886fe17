package replica

import "expvar"

// Process-wide counters of the data that replicated sets move to and from
// their members, published with expvar (serve --debug-addr shows them at
// /debug/vars). They let an operator or a benchmark check, for example,
// that a small range read fetches only the chunks that cover it.
var (
	// metricReadBytes counts bytes read from members by Get readers.
	metricReadBytes = expvar.NewInt("twincrypt_backend_read_bytes")
	// metricReads counts member streams opened by Get (one per member
	// tried, including failovers).
	metricReads = expvar.NewInt("twincrypt_backend_reads")
	// metricRequestedBytes counts the lengths of the ranges those streams
	// asked members for (streams to the end of an object are not counted).
	metricRequestedBytes = expvar.NewInt("twincrypt_backend_requested_bytes")
	// metricWrittenBytes counts bytes handed to members by Put, summed
	// over members (a blob written to two members counts twice).
	metricWrittenBytes = expvar.NewInt("twincrypt_backend_written_bytes")
)
