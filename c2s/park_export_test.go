package c2s

import "time"

// Every test of this package runs with a short parkAfter, so that idle
// moments in any of them park and resume their readers.
func init() { parkAfter = 100 * time.Millisecond }

// ParkAfter is parkAfter, for tests that wait for a park.
func ParkAfter() time.Duration { return parkAfter }
