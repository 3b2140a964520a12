package modbus

import (
	"testing"

	"github.com/setsuden/setsuden/collector"
)

func TestMeterReportsCounterFields(t *testing.T) {
	ms, err := LoadModels()
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMeter(MeterConfig{Name: "x", Model: ms["setsuden-sim-pm"], Transport: TransportTCP, Address: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	var src collector.CounterSource = m
	cs := src.Counters()
	if len(cs) != 1 || cs[0].Field != "kwh" || cs[0].Measurement != "power" || cs[0].Modulus != 42949672.96 {
		t.Errorf("counters = %+v, want power.kwh modulus 42949672.96", cs)
	}
}
