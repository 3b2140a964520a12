// Command sheddingsum sums the outcomes the real-part shedding cases wrote
// to $SETSUDEN_SHEDDING_REPORT (one JSON object a line) into the one JSON
// line `make test-shedding` ends with. It exits 1 if no case ran, a case
// failed, or any guest was lost, ran twice, was left on a powered-off host,
// or a finished step was repeated.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	"github.com/setsuden/setsuden/internal/testmigrate"
)

type summary struct {
	Cases                 int      `json:"cases"`
	CasesPassed           int      `json:"cases_passed"`
	GuestsLost            int      `json:"guests_lost"`
	GuestsRunningTwice    int      `json:"guests_running_twice"`
	HostsOffWithGuests    int      `json:"hosts_off_with_guests"`
	FinishedStepsRepeated int      `json:"finished_steps_repeated"`
	Failed                []string `json:"failed,omitempty"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: sheddingsum REPORT.jsonl")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "sheddingsum: %v (did any real-part case run? they skip without root, libvirtd, qemu or ipmi_sim)\n", err)
		os.Exit(1)
	}
	defer f.Close()
	var s summary
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var o testmigrate.Outcome
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			fmt.Fprintf(os.Stderr, "sheddingsum: %s: bad line %q: %v\n", os.Args[1], sc.Text(), err)
			os.Exit(1)
		}
		s.Cases++
		if o.Passed {
			s.CasesPassed++
		} else {
			s.Failed = append(s.Failed, o.Case)
		}
		s.GuestsLost += o.GuestsLost
		s.GuestsRunningTwice += o.GuestsRunningTwice
		s.HostsOffWithGuests += o.HostsOffWithGuests
		s.FinishedStepsRepeated += o.FinishedStepsRepeated
		fmt.Fprintf(os.Stderr, "%-4s %s\n", map[bool]string{true: "ok", false: "FAIL"}[o.Passed], o.Case)
	}
	b, _ := json.Marshal(s)
	fmt.Println(string(b))
	if s.Cases == 0 || s.CasesPassed != s.Cases || s.GuestsLost+s.GuestsRunningTwice+s.HostsOffWithGuests+s.FinishedStepsRepeated > 0 {
		os.Exit(1)
	}
}
