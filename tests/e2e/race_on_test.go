//go:build race

package e2e

// raceEnabled: the tests run with -race, so weir is built with -race too
// and a data race it reports fails the test that ran it.
const raceEnabled = true
