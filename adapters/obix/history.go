package obix

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxHistoryPages bounds the queries of one History call.
const maxHistoryPages = 1000

// Sample is one record of a history.
type Sample struct {
	Time time.Time
	// Value is typed as in Value.Value; nil for a null record and for
	// records whose value is not a value object (the NextDC server writes
	// <obj data="…"/>, notes §4.3).
	Value  any
	Kind   string // kind of the value element
	Unit   string // unit URI, from the record or the list's prototype
	Status string
}

// History reads the records of the history at href (an obix:History, or
// its query op) between start and end, both inclusive (zero for open), at
// most limit of them (0 for all), oldest first. It POSTs an
// obix:HistoryFilter to the history's query op and reads the
// HistoryQueryOut (notes §4.3) — use it to backfill a gap after an outage.
//
// Servers cap a query (Niagara's canned queries at 1000 records, notes §4.5
// item 10) without saying so, so History pages: it queries again from the
// newest timestamp it got until a query brings nothing new, the window's end
// is reached or limit records are in. Records with the same timestamp on
// both sides of a page boundary are therefore kept once.
func (c *Client) History(ctx context.Context, href string, start, end time.Time, limit int) ([]Sample, error) {
	if limit < 0 {
		return nil, fmt.Errorf("history %s: negative limit %d", href, limit)
	}
	if !start.IsZero() && !end.IsZero() && end.Before(start) {
		return nil, fmt.Errorf("history %s: end %s before start %s", href, FormatAbstime(end), FormatAbstime(start))
	}
	h, err := c.Read(ctx, href)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	query := h.AbsHref()
	if h.Kind != KindOp {
		query = lobbyEntry(h, "query", func(o *Obj) bool {
			return o.Kind == KindOp && contractListHas(o.In, ContractHistoryFilter) && contractListHas(o.Out, ContractHistoryQueryOut)
		})
	}
	// Without a query op, or when the op refuses a POST, histories are
	// read with the GET form Niagara serves: …/~historyQuery?start=&end=.
	getURL := historyGetURL(h.AbsHref(), query)
	useGet := query == ""
	if getURL == "" || useGet && !h.Implements(ContractHistory) {
		return nil, fmt.Errorf("history %s: <%s is=%q> has no query op (not an obix:History?)", href, h.Kind, h.Is)
	}
	var (
		out  []Sample
		last time.Time // newest timestamp so far
		from = start
	)
	for range maxHistoryPages {
		want := 0
		if limit > 0 {
			want = limit - len(out)
			if !last.IsZero() {
				want++ // the page starts with the newest record we have
			}
		}
		var res *Obj
		if !useGet {
			res, err = c.post(ctx, query, historyFilter(want, from, end))
			if batchRefused(err) {
				// The op is there but takes no POSTed filter.
				useGet = true
			}
		}
		if useGet {
			res, err = c.getHistory(ctx, getURL, want, from, end)
		}
		if err != nil {
			return nil, fmt.Errorf("history %s: %w", href, err)
		}
		recs, err := historyRecords(res)
		if err != nil {
			return nil, fmt.Errorf("history %s: query from %s: %w", href, describeTime(from), err)
		}
		added := 0
		for _, r := range recs {
			if !last.IsZero() && !r.Time.After(last) {
				continue // already on the previous page
			}
			if !start.IsZero() && r.Time.Before(start) || !end.IsZero() && r.Time.After(end) {
				continue // the server ignored part of the filter
			}
			out = append(out, r)
			added++
			if limit > 0 && len(out) == limit {
				return out, nil
			}
		}
		if added == 0 {
			return out, nil
		}
		last = out[len(out)-1].Time
		if !end.IsZero() && !last.Before(end) {
			return out, nil
		}
		from = last
	}
	return out, fmt.Errorf("history %s: still more records after %d queries; narrow the window", href, maxHistoryPages)
}

// historyGetURL is where the GET form of a history query goes: the query
// op when it is Niagara's ~historyQuery, else ~historyQuery under the
// history. "" when neither is known.
func historyGetURL(history, query string) string {
	if q := strings.TrimSuffix(query, "/"); strings.HasSuffix(q, "~historyQuery") {
		return q
	}
	if history == "" {
		return ""
	}
	u, err := url.Parse(history)
	if err != nil {
		return ""
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.RawQuery, u.Fragment = "", ""
	return u.ResolveReference(&url.URL{Path: "~historyQuery"}).String()
}

// getHistory runs one query with the GET form: start, end and limit as
// URL parameters, each left out when open.
func (c *Client) getHistory(ctx context.Context, getURL string, limit int, start, end time.Time) (*Obj, error) {
	u, err := url.Parse(getURL)
	if err != nil {
		return nil, fmt.Errorf("history query URL %q: %w", getURL, err)
	}
	q := url.Values{}
	if !start.IsZero() {
		q.Set("start", FormatAbstime(start))
	}
	if !end.IsZero() {
		q.Set("end", FormatAbstime(end))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	u.RawQuery = q.Encode()
	return c.do(ctx, http.MethodGet, u, nil)
}

// historyFilter builds an obix:HistoryFilter; zero values are null (notes
// §4.1: limit, start and end are all nullable).
func historyFilter(limit int, start, end time.Time) *Obj {
	l := &Obj{Kind: KindInt, Name: "limit", Null: limit == 0}
	if limit > 0 {
		l.Val = strconv.Itoa(limit)
	}
	abstime := func(name string, t time.Time) *Obj {
		if t.IsZero() {
			return &Obj{Kind: KindAbstime, Name: name, Null: true}
		}
		return &Obj{Kind: KindAbstime, Name: name, Val: FormatAbstime(t)}
	}
	return &Obj{Kind: KindObj, Is: ContractHistoryFilter, Children: []*Obj{l, abstime("start", start), abstime("end", end)}}
}

// historyRecords reads a HistoryQueryOut, oldest record first. It takes the
// list named data wherever it stands (Niagara puts it before count, start
// and end; notes §4.5 item 1), else the first list; record children by name
// or, unnamed (IoTSyS), by kind; the unit from the record or from the local
// prototype the list's of names (Niagara's "#RecordDef", item 2).
func historyRecords(res *Obj) ([]Sample, error) {
	if res == nil {
		return nil, fmt.Errorf("empty answer")
	}
	list := res.Child("data")
	if list == nil {
		list = res.firstOfKind(KindList)
	}
	if list == nil {
		if res.Kind != KindList {
			return nil, fmt.Errorf("answer <%s is=%q> holds no data list", res.Kind, res.Is)
		}
		list = res
	}
	// The record prototype: a local object the list's of names
	// (Niagara's "#RecordDef"), or oBIX 1.1's child named prototype. It
	// gives the unit of the values and the zone of the timestamps.
	var proto *Obj
	for _, of := range strings.Fields(list.Of) {
		if !strings.HasPrefix(of, "#") {
			continue
		}
		for _, c := range res.Children {
			if c.Href == of {
				proto = c
			}
		}
	}
	if proto == nil {
		proto = res.Child("prototype")
	}
	protoUnit, protoTZ := "", ""
	if proto != nil {
		if v := proto.Child("value"); v != nil {
			protoUnit = v.Unit
		}
		if ts := proto.Child("timestamp"); ts != nil {
			protoTZ = ts.TZ
		}
	}
	if protoTZ == "" {
		if tz := res.Child("tz"); tz != nil && tz.Kind == KindStr {
			protoTZ = tz.Val
		}
	}
	recs := make([]Sample, 0, len(list.Children))
	for i, r := range list.Children {
		ts := r.childOr("timestamp", KindAbstime)
		if ts == nil || ts.Null {
			return nil, fmt.Errorf("record %d has no timestamp", i+1)
		}
		tz := ts.TZ
		if tz == "" {
			tz = protoTZ
		}
		t, err := ParseAbstime(strings.TrimSpace(ts.Val), tz)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i+1, err)
		}
		s := Sample{Time: t, Status: "ok"}
		v := r.Child("value")
		if v == nil {
			for _, c := range r.Children {
				if c != ts && c.Name == "" {
					v = c
					break
				}
			}
		}
		if v != nil {
			s.Kind, s.Unit, s.Status = v.Kind, v.Unit, StatusOf(v)
			if s.Unit == "" {
				s.Unit = protoUnit
			}
			if v.IsValue() && !v.Null {
				x, err := parseVal(v.Kind, v.Val, v.TZ)
				if err != nil {
					return nil, fmt.Errorf("record %d (%s): %w", i+1, FormatAbstime(t), err)
				}
				s.Value = x
			}
		}
		recs = append(recs, s)
	}
	slices.SortStableFunc(recs, func(a, b Sample) int { return a.Time.Compare(b.Time) })
	return recs, nil
}

// describeTime is FormatAbstime, or "the start" for the zero time.
func describeTime(t time.Time) string {
	if t.IsZero() {
		return "the start"
	}
	return FormatAbstime(t)
}
