#!/usr/bin/python3
"""Writes each case's metered series (series.csv) and its expected bill
(expected.json), computed here independently of the Go code from the
contract rules (see ../tariff.go's package comment): demand per block to the
whole kW, power factor over the daytime (8-22) to the whole percent,
basic = unit x contract kW x (1 + (85 - PF)/100) prorated by days across a
price change, energy by band, per-kWh adjustments, total floored to the yen.

Run from this folder: /usr/bin/python3 gen.py
"""
import csv, json, math, datetime as dt
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")
AS = {"name": "kepco-as", "basic": 1765.50,
      "bands": [("summer", "summer", None, 0, 24, 13.94), ("other", "other", None, 0, 24, 12.87)]}
AS_TOU = {"name": "kepco-as-tou", "basic": 1765.50,
          "bands": [("heavy", "summer", "weekday", 13, 16, 19.40),
                    ("daytime", None, "weekday", 8, 22, 14.09),
                    ("night", None, None, 0, 24, 9.73)]}
AS_2 = {"name": "kepco-as-2026-04-16", "basic": 1800.00,
        "bands": [("summer", "summer", None, 0, 24, 14.50), ("other", "other", None, 0, 24, 13.40)]}

def half_up(v): return math.floor(v + 0.5)

def blocks(year, month):
    t = dt.datetime(year, month, 1, tzinfo=JST)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=JST)
    while t < end:
        yield t
        t += dt.timedelta(minutes=30)

def office(t, peak_kw, base_kw, holidays):
    """Office-hours load: peak_kw on weekdays 9-18, base_kw otherwise."""
    off = t.weekday() == 6 or t.date().isoformat() in holidays
    return peak_kw if (not off and t.weekday() < 5 and 9 <= t.hour < 18) else base_kw

def day_kind(t, holidays):
    return "holiday" if (t.weekday() == 6 or t.date().isoformat() in holidays) else "weekday"

def band_for(c, t, holidays):
    season = "summer" if t.month in (7, 8, 9) else "other"
    for name, s, d, f, to, price in c["bands"]:
        if (s is None or s == season) and (d is None or d == day_kind(t, holidays)) and f <= t.hour < to:
            return name, price
    raise ValueError(t)

def bill(case):
    y, m = case["year"], case["month"]
    hol = set(case.get("holidays", []))
    rows = []
    for t in blocks(y, m):
        if any(g[0] <= t.isoformat() < g[1] for g in case.get("gaps", [])):
            continue
        kw = case["kw"](t, hol)
        cov = case.get("coverage", {}).get(t.isoformat(), 1.0)
        kwh = kw * 0.5 * cov
        rows.append((t, kwh, kwh * case["tan"], cov))
    # series.csv
    with open(case["dir"] + "/series.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["block_start", "kwh", "kvarh", "coverage"])
        for t, kwh, kvarh, cov in rows:
            w.writerow([t.isoformat(), f"{kwh:.6f}", f"{kvarh:.6f}", cov])
    periods = case["periods"]  # [(from date, contract)]
    start = dt.datetime(y, m, 1, tzinfo=JST)
    end = dt.datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=JST)
    mdays = (end - start).days
    def contract_at(t):
        c = None
        for frm, cc in periods:
            if t >= frm: c = cc
        return c
    maxkw, maxblock = -1, None
    energy = 0.0
    dkwh = dkvarh = 0.0
    bands = {}
    for t, kwh, kvarh, cov in rows:
        kw = half_up(kwh / 0.5)
        if kw > maxkw: maxkw, maxblock = kw, t
        c = contract_at(t)
        name, price = band_for(c, t, hol)
        key = (c["name"], name, price)
        bands[key] = bands.get(key, 0.0) + kwh
        energy += kwh
        if 8 <= t.hour < 22:
            dkwh += kwh; dkvarh += kvarh
    pf = min(half_up(100 * dkwh / math.hypot(dkwh, dkvarh)), 100)
    factor = 1 + (85 - pf) / 100
    rule = case.get("rule", "measured")
    if rule == "measured":
        contract_kw, set_by = maxkw, case["label"]
        first = (dt.date(y, m, 1) - dt.timedelta(days=1))
        window = []
        ym = (y, m)
        for i in range(11):
            ym = (ym[0] - (ym[1] == 1), (ym[1] - 2) % 12 + 1)
            window.append("%04d-%02d" % ym)
        for month, kw in case.get("prior", {}).items():
            if month in window and half_up(kw) > contract_kw:
                contract_kw, set_by = half_up(kw), month
    else:
        contract_kw, set_by = case["agreed_kw"], "agreed"
    basic = 0.0
    segs = []
    for i, (frm, c) in enumerate(periods):
        to = periods[i + 1][0] if i + 1 < len(periods) else end
        frm2, to2 = max(frm, start), min(to, end)
        if to2 <= frm2: continue
        days = (to2 - frm2).total_seconds() / 86400
        basic += c["basic"] * contract_kw * factor * days / mdays
    surcharge = 0.0
    if rule == "agreed" and maxkw > case["agreed_kw"]:
        surcharge = (maxkw - case["agreed_kw"]) * contract_at(maxblock)["basic"] * factor * 1.5
    energy_yen = sum(kwh * price for (cn, bn, price), kwh in bands.items())
    fuel, ren = case.get("adj", (0, 0))
    total = math.floor(basic + surcharge + energy_yen + energy * fuel + energy * ren + 1e-9)
    exp = {"month": "%04d-%02d" % (y, m), "max_demand_kw": maxkw, "max_block": maxblock.isoformat(),
           "contract_kw": contract_kw, "contract_set_by": set_by, "power_factor_pct": pf,
           "energy_kwh": round(energy, 6), "basic_yen": round(basic, 4), "over_contract_yen": round(surcharge, 4),
           "energy_yen": round(energy_yen, 4),
           "energy_kwh_by_price": {"%.2f" % price: round(kwh, 6) for (cn, bn, price), kwh in sorted(bands.items())},
           "fuel_adjustment_yen": round(energy * fuel, 4), "renewable_surcharge_yen": round(energy * ren, 4),
           "total_yen": total, "coverage_fraction": round(sum(r[3] for r in rows) / (mdays * 48), 6)}
    def contract_yaml(c):
        bands = [{"name": n, "season": s or "", "days": d or "", "from_hour": f, "to_hour": to, "yen_per_kwh": p}
                 for n, s, d, f, to, p in c["bands"]]
        out = {"name": c["name"], "rule": rule, "basic_yen_per_kw": c["basic"], "bands": bands}
        if rule == "agreed":
            out["agreed_kw"] = case["agreed_kw"]
        return out
    inputs = {"month": "%04d-%02d" % (y, m), "time_zone": "Asia/Tokyo",
              "schedule": [{"from": frm.isoformat(), "contract": contract_yaml(c)} for frm, c in periods],
              "holidays": sorted(hol),
              "prior": [{"month": k, "kw": v} for k, v in sorted(case.get("prior", {}).items())],
              "adjustments": [{"month": "%04d-%02d" % (y, m), "fuel_yen_per_kwh": fuel, "renewable_yen_per_kwh": ren}]}
    with open(case["dir"] + "/case.yaml", "w") as f:
        f.write("# Inputs of this case, written by gen.py (JSON is YAML).\n")
        json.dump(inputs, f, indent=1); f.write("\n")
    with open(case["dir"] + "/expected.json", "w") as f:
        json.dump(exp, f, indent=1, sort_keys=True); f.write("\n")

D = lambda s: dt.datetime.fromisoformat(s).replace(tzinfo=JST)
CASES = [
    # July sets a new 12-month maximum: one block at 340 kW over a prior 320.
    dict(dir="new-maximum", label="2026-07", year=2026, month=7, tan=0.484322, adj=(-1.20, 3.98),
         periods=[(D("2026-01-01"), AS)], prior={"2026-02": 320.0, "2025-07": 500.0},
         kw=lambda t, h: 340.0 if t.isoformat() == "2026-07-15T14:00:00+09:00" else office(t, 300.0, 100.0, h)),
    # October inherits July's 340 kW; last October's 400 kW is 12 months back, outside the window.
    dict(dir="inherited-maximum", label="2026-10", year=2026, month=10, tan=0.484322, adj=(0.35, 3.98),
         periods=[(D("2026-01-01"), AS)], prior={"2026-07": 340.0, "2025-10": 400.0, "2026-08": 330.4},
         kw=lambda t, h: office(t, 250.0, 90.0, h)),
    # A poor power factor (80%): the basic charge rises 5%.
    dict(dir="pf-below-85", label="2026-11", year=2026, month=11, tan=0.75, adj=(0.35, 3.98),
         periods=[(D("2026-01-01"), AS)], prior={},
         kw=lambda t, h: office(t, 200.0, 80.0, h)),
    # A good power factor (98%): 13% off the basic charge.
    dict(dir="pf-above-85", label="2026-11", year=2026, month=11, tan=0.203, adj=(0.35, 3.98),
         periods=[(D("2026-01-01"), AS)], prior={},
         kw=lambda t, h: office(t, 200.0, 80.0, h)),
    # Time of use across Marine Day (Monday 20 July 2026): the holiday is priced at the night rate.
    dict(dir="tou-holiday", label="2026-07", year=2026, month=7, tan=0.484322, adj=(-1.20, 3.98),
         holidays=["2026-07-20"], periods=[(D("2026-01-01"), AS_TOU)], prior={},
         kw=lambda t, h: office(t, 300.0, 100.0, h)),
    # A price change on 16 April: energy split at the change, basic prorated 15/30 + 15/30.
    dict(dir="price-change", label="2026-04", year=2026, month=4, tan=0.484322, adj=(0.10, 3.98),
         periods=[(D("2026-01-01"), AS), (D("2026-04-16"), AS_2)], prior={},
         kw=lambda t, h: office(t, 220.0, 90.0, h)),
    # Three days without data and a half-covered block: coverage below 1, no silent zero.
    dict(dir="gaps", label="2026-08", year=2026, month=8, tan=0.484322, adj=(-1.20, 3.98),
         periods=[(D("2026-01-01"), AS)], prior={},
         gaps=[("2026-08-10T00:00:00+09:00", "2026-08-13T00:00:00+09:00")],
         coverage={"2026-08-17T10:00:00+09:00": 0.5},
         kw=lambda t, h: office(t, 260.0, 100.0, h)),
    # An agreed 600 kW contract exceeded by one 650 kW block: the surcharge at 1.5x.
    dict(dir="agreed-over-contract", label="agreed", year=2026, month=9, tan=0.484322, adj=(-1.20, 3.98),
         rule="agreed", agreed_kw=600.0, periods=[(D("2026-01-01"), AS)], prior={},
         kw=lambda t, h: 650.0 if t.isoformat() == "2026-09-08T15:30:00+09:00" else office(t, 560.0, 200.0, h)),
]
if __name__ == "__main__":
    import os
    for c in CASES:
        os.makedirs(c["dir"], exist_ok=True)
        bill(c)
        print("wrote", c["dir"])
