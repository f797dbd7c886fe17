package catalog

// WithNoSync makes commits skip fsync, so that tests and benchmarks can
// load many entries quickly. Not durable.
func WithNoSync() BoltOption { return func(o *boltOptions) { o.noSync = true } }
