package c2s

import "time"

// Every test of this package runs with a short parkAfter, so that idle
// moments in any of them park and resume their readers.
func init() { parkAfter = 100 * time.Millisecond }

// ParkedSessions is the number of parked sessions of all Servers.
func ParkedSessions() int64 { return parkedSessions.Load() }

// ParkAfter is parkAfter, for tests that wait for a park.
func ParkAfter() time.Duration { return parkAfter }
