package testmigrate

import (
	"encoding/json"
	"os"
	"sync"
	"testing"
)

// ReportEnv names the file that real-part shedding cases append their
// outcome to, one JSON object a line (make test-shedding sums them).
const ReportEnv = "SETSUDEN_SHEDDING_REPORT"

// Outcome is what one case measured. The counts come from the processes
// and daemons after the case, not from what the code under test said.
type Outcome struct {
	Case                  string `json:"case"`
	Passed                bool   `json:"passed"`
	GuestsLost            int    `json:"guests_lost"`
	GuestsRunningTwice    int    `json:"guests_running_twice"`
	HostsOffWithGuests    int    `json:"hosts_off_with_guests"`
	FinishedStepsRepeated int    `json:"finished_steps_repeated"`
}

var reportMu sync.Mutex

// Case registers a case: at cleanup its outcome (passed = the test did not
// fail) is appended to $SETSUDEN_SHEDDING_REPORT, if set. Fill the counts
// through the returned pointer.
func Case(t testing.TB, name string) *Outcome {
	o := &Outcome{Case: name}
	t.Cleanup(func() {
		o.Passed = !t.Failed() && !t.Skipped()
		path := os.Getenv(ReportEnv)
		if path == "" || t.Skipped() {
			return
		}
		b, _ := json.Marshal(o)
		reportMu.Lock()
		defer reportMu.Unlock()
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Errorf("shedding report %s: %v", path, err)
			return
		}
		defer f.Close()
		f.Write(append(b, '\n'))
	})
	return o
}

// CountGuests checks that every named guest runs exactly once across hosts
// (by its qemu process) and adds the lost and doubled ones to o.
func CountGuests(t testing.TB, o *Outcome, hosts []*Host, guests ...string) {
	t.Helper()
	for _, g := range guests {
		n := 0
		var where []string
		for _, h := range hosts {
			if h.QemuPid(g) != 0 {
				n++
				where = append(where, h.Name)
			}
		}
		switch {
		case n == 0:
			o.GuestsLost++
			t.Errorf("guest %s runs nowhere", g)
		case n > 1:
			o.GuestsRunningTwice++
			t.Errorf("guest %s runs on %v", g, where)
		}
	}
}
