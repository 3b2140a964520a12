package main

import (
	"testing"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/rules/demandctl"
)

// The daemon's demand store offers the controller everything it asks of a
// store: the cached tick reads and the 12-month history (a bare cache hid
// the latter, and the daemon stopped knowing its annual maximum).
func TestDemandStoreOffersTheHistory(t *testing.T) {
	var s demandctl.Store = demandStore{&influx.DemandCache{}, nil}
	if _, ok := s.(demandctl.PeakStore); !ok {
		t.Error("the daemon's demand store is no PeakStore")
	}
	if _, ok := s.(demandctl.BillBlockReader); !ok {
		t.Error("the daemon's demand store is no BillBlockReader")
	}
}
