package catalog

import "errors"

// ErrUnavailable means the catalog's store cannot be reached or did not
// answer in time (a Redis catalog whose server is down, restarting or
// failing over). Nothing was decided: the caller must not take it for a
// missing bucket or key, and should answer "try again later" (HTTP 503).
// A later call succeeds once the store is back, without reopening.
var ErrUnavailable = errors.New("catalog unavailable")
