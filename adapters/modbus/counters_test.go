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

// The power bounding a counter's rise: the device's rated_kw, else the
// model's, else what the register's range allows in 30 days.
func TestCounterRatedPower(t *testing.T) {
	ms, err := LoadModels()
	if err != nil {
		t.Fatal(err)
	}
	rated := func(model string, device float64) float64 {
		m, err := NewMeter(MeterConfig{Name: "x", Model: ms[model], Transport: TransportTCP, Address: "127.0.0.1:1", RatedKW: device})
		if err != nil {
			t.Fatal(err)
		}
		return m.Counters()[0].RatedKW
	}
	if got := rated("setsuden-sim-pm", 0); got != 1000 {
		t.Errorf("sim model: rated %v kW, want the model's 1000", got)
	}
	if got := rated("setsuden-sim-pm", 250); got != 250 {
		t.Errorf("device rated_kw 250: got %v", got)
	}
	// EM21: kWh as INT32 of 0.1 kWh, no modulus and no rating in the model:
	// 2^31 x 0.1 kWh in 720 h.
	if got, want := rated("carlo-gavazzi-em21", 0), 214748364.8/720; got < want*0.999 || got > want*1.001 {
		t.Errorf("em21 default: %v kW, want %v", got, want)
	}
	if _, err := NewMeter(MeterConfig{Name: "x", Model: ms["setsuden-sim-pm"], Transport: TransportTCP, Address: "127.0.0.1:1", RatedKW: -1}); err == nil {
		t.Error("negative rated_kw accepted")
	}
}
