//go:build !unix

package seal

import "time"

// processCPU is not available here; CPU-time metrics are not reported.
func processCPU() time.Duration { return 0 }
