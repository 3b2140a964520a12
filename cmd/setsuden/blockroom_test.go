package main

import (
	"testing"
	"time"
)

// waitBlockRoom returns once at least need is left in the current demand
// block of length block, sleeping into the next block when less is left.
//
// A test whose outcome depends on where the wall clock is in a block must
// call it before it writes the block so far: the demand prediction, the
// shed request and the restore's headroom are all computed from the time
// left in the block. With the shed site's 15-minute block, a 32 kW block
// so far and 1 kW after the drop, the headroom a restore may use is
// (30*15 - 32*m - 1*r)/r kW for m minutes elapsed and r left: under the
// 20 kW of the set-point stage once r < 2.7 min, so a restore then leaves
// the stage out, and the shed request 2*15/r kW outgrows the stage once
// r < 1.5 min. TestRunShedWritesAndRevertsAnObixSetPoint failed about 2 in
// 10 runs this way: whenever it ran in the last ~3 minutes of a block.
func waitBlockRoom(t testing.TB, block, need time.Duration) {
	t.Helper()
	now := time.Now()
	end := now.Truncate(block).Add(block)
	if left := end.Sub(now); left < need {
		t.Logf("%s left in the %s block (need %s): waiting for the next block", left.Round(time.Second), block, need)
		time.Sleep(left + time.Second)
	}
}
