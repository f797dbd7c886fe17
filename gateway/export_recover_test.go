package gateway

import "context"

// RecoverWith runs Recover keeping up to buffer version keys in memory,
// listing at most listMax renames and failures in the report, and calling
// sample after every record (false) and every key with versions (true).
func RecoverWith(ctx context.Context, o RecoverOptions, buffer, listMax int, sample func(versions bool)) (*RecoverReport, error) {
	o.spillBuffer, o.listMax, o.sample = buffer, listMax, sample
	return Recover(ctx, o)
}
