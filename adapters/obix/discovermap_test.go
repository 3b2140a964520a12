package obix

import "testing"

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"*Setpoint*", "/obix/config/AHU1/SupplyAirSetpoint/", true},
		{"*/AHU*/*", "/obix/config/AHU1/SupplyAirTemp/", true},
		{"*/AHU*/*", "/obix/config/CHW/SupplyTemp/", false},
		{"*supply*air*", "/obix/config/ahu1/SupplyAirTemp/", true},
		{"/obix/config/AHU?/", "/obix/config/ahu1/", true},
		{"/obix/config/AHU?/", "/obix/config/ahu12/", false},
		{"", "", true},
		{"", "x", false},
		{"**", "", true},
	} {
		if got := Match(c.pattern, c.s); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

func TestDefaultUnitRules(t *testing.T) {
	for _, c := range []struct {
		href, unit, meas, field, category string
	}{
		{"/obix/config/CRAC2/ReturnAirTemp/", "obix:units/fahrenheit", "temperature", "return_air_c", ""},
		{"/obix/config/Plant/CHWSupplyTemp/", "obix:units/celsius", "temperature", "chw_supply_c", ""},
		{"/obix/config/Plant/ChilledWaterReturn/", "obix:units/celsius", "temperature", "chw_return_c", ""},
		{"/obix/config/Hall1/Humidity/", "obix:units/percent", "temperature", "humidity_rh", ""},
		{"/obix/config/Pump3/Power/", "obix:units/kilowatt", "power", "kw", "cooling"},
		{"/obix/config/Floor2Lighting/Demand/", "obix:units/watt", "power", "kw", "lighting"},
		{"/obix/config/Main/Energy/", "obix:units/kilowatt_hour", "power", "kwh", ""},
	} {
		r, ok := matchRule(DefaultUnitRules(), PointInfo{Href: c.href, Unit: c.unit}, c.href)
		if !ok || r.Measurement != c.meas || r.Field != c.field || r.Tags["category"] != c.category {
			t.Errorf("%s (%s): got %+v, %v; want %s.%s category %q", c.href, c.unit, r, ok, c.meas, c.field, c.category)
		}
	}
	if _, ok := matchRule(DefaultUnitRules(), PointInfo{Unit: "obix:units/null"}, "/obix/config/X/Y/"); ok {
		t.Error("a point without a unit was mapped")
	}
	if m := meterName("/obix/config/AHU 1/SupplyAirTemp/"); m != "ahu-1" {
		t.Errorf("meterName = %q, want ahu-1", m)
	}
}
