//go:build !race

package replica

// raceEnabled is true when tests run under the race detector, which makes
// byte-heavy tests many times slower.
const raceEnabled = false
