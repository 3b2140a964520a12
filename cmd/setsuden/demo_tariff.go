package main

// demoTariffYAML is the demo's electricity contract, so the console's
// Reports page and GET /api/v1/cost show a bill: the example contract's
// figures (Kansai Electric 高圧電力AS, https://biz.kepco.jp/elec/menu/500kw_less/,
// as in setsuden.example.yaml), in force since long before the demo's data,
// and the example's emission factors, so they show the month's CO2 too.
func demoTariffYAML() string {
	return `tariff:
  contracts:
    - name: kepco-as
      from: "2020-04-01"
      source: Kansai Electric 高圧電力AS, https://biz.kepco.jp/elec/menu/500kw_less/
      rule: measured
      basic_yen_per_kw: 1765.50
      bands:
        - {name: summer, season: summer, yen_per_kwh: 13.94}
        - {name: other, season: other, yen_per_kwh: 12.87}
  emission:
    supplier: kepco
    factors:
      - {supplier: kepco, year: 2018, location_kg_per_kwh: 0.35, adjusted_kg_per_kwh: 0.33, source: "Kansai Electric, 数字でみる関西電力 (FY2018)"}
`
}
