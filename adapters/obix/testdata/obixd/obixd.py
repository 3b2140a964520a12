#!/usr/bin/python3
"""obixd: an oBIX 1.0/1.1 gateway for setsuden's end-to-end tests.

It runs in its own process (Python 3 standard library only) and serves the
REST binding with the XML encoding: a Lobby, a small facility (air handler,
chilled water, chiller, lighting), batch reads, watches with leases,
histories and writes. Command-line flags pick the behaviours of gateways
that differ from the spec's examples; the test drives the rest through
/_ctl/ (not oBIX):

  GET /_ctl/set?href=H&val=V[&status=S][&null=1][&err=1][&garbage=1]
  GET /_ctl/outage?on=1|0         answer every oBIX request with 503 while on
  GET /_ctl/drop-watches          forget every watch (as a lease expiry does)
  GET /_ctl/history?href=H        the history records of point H, as JSON
  GET /_ctl/log                   the oBIX requests seen, one per line

The record of each point's history is taken every --history-every seconds
while the gateway is up and during an outage alike (the gateway keeps
logging; only its HTTP side is down), with the gateway's own timestamps.

Listens on 127.0.0.1 and prints "obixd listening on PORT" once ready.
"""

import argparse
import datetime
import json
import re
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import quoteattr

NS = "http://obix.org/ns/schema/1.0"

# href, kind, initial val, unit, writable, display name
POINTS = [
    ("/obix/config/AHU1/SupplyAirTemp/", "real", "18.5", "obix:units/celsius", False, "Supply Air Temperature"),
    ("/obix/config/AHU1/ReturnAirTemp/", "real", "26.0", "obix:units/celsius", False, "Return Air Temperature"),
    ("/obix/config/AHU1/Humidity/", "real", "45.0", "obix:units/percent_relative_humidity", False, "Relative Humidity"),
    ("/obix/config/AHU1/SupplyAirSetpoint/", "real", "18.0", "obix:units/celsius", True, "Supply Air Setpoint"),
    ("/obix/config/AHU1/Enable/", "bool", "true", "", True, "Fan Enable"),
    ("/obix/config/CHW/SupplyTemp/", "real", "7.0", "obix:units/celsius", False, "Chilled Water Supply Temperature"),
    ("/obix/config/CHW/ReturnTemp/", "real", "12.5", "obix:units/celsius", False, "Chilled Water Return Temperature"),
    ("/obix/config/Chiller1/Power/", "real", "85000", "obix:units/watt", False, "Chiller Power"),
    ("/obix/config/Lighting/Power/", "real", "4.2", "obix:units/kilowatt", False, "Lighting Power"),
]


def now_local(tz):
    return datetime.datetime.now(tz)


def abstime(t):
    return t.isoformat(timespec="milliseconds")


class Point:
    def __init__(self, href, kind, val, unit, writable, display):
        self.href, self.kind, self.val, self.unit = href, kind, val, unit
        self.writable, self.display = writable, display
        self.status = "ok"
        self.null = False
        self.err = False
        self.garbage = False
        self.ver = 1
        self.history = []  # (datetime, val or None)

    @property
    def hist_name(self):
        parts = [p for p in self.href.split("/") if p][2:]
        return "_".join(parts)

    def xml(self, args, name=None):
        if self.err:
            return '<err href=%s is="obix:BadUriErr" display="point is gone"/>' % quoteattr(self.href)
        a = ["href=%s" % quoteattr(self.href), 'is="obix:Point"']
        if name:
            a.insert(0, "name=%s" % quoteattr(name))
        a.append("val=%s" % quoteattr(self.val))
        if self.null:
            a.append('null="true"')
        if self.unit:
            a.append("unit=%s" % quoteattr(self.unit))
        if self.writable:
            a.append('writable="true"')
        if args.status_in == "display":
            a.append("display=%s" % quoteattr("%s {%s}" % ("-" if self.null else self.val, self.status)))
        elif self.status != "ok":
            a.append("status=%s" % quoteattr(self.status))
        a.append("displayName=%s" % quoteattr(self.display))
        inner = ""
        if args.history != "none":
            inner = '<ref name="history" href="/obix/histories/%s/" is="obix:History"/>' % self.hist_name
        return "<%s %s>%s</%s>" % (self.kind, " ".join(a), inner, self.kind)


class Watch:
    def __init__(self, wid, lease):
        self.id, self.lease = wid, lease
        self.contact = time.monotonic()
        self.hrefs = []
        self.sent = {}

    def expired(self):
        return time.monotonic() - self.contact > self.lease


class Gateway:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.points = {p[0]: Point(*p) for p in POINTS}
        self.watches = {}
        self.next_watch = 100
        self.outage = False
        self.log = []
        self.tz = datetime.timezone(datetime.timedelta(hours=args.tz_offset))

    def point(self, path):
        if not path.endswith("/"):
            path += "/"
        return self.points.get(path)

    def record_history(self):
        while True:
            time.sleep(self.args.history_every)
            t = now_local(self.tz)
            with self.lock:
                for p in self.points.values():
                    if p.kind == "real":
                        p.history.append((t, None if p.null or p.err or p.status != "ok" else p.val))


def doc(body):
    """Wraps an element in the XML declaration and the oBIX namespace."""
    m = re.match(r"<[A-Za-z]+", body)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body[:m.end()] + ' xmlns="%s"' % NS + body[m.end():]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "obixd/1.0"

    def log_message(self, fmt, *a):
        pass

    @property
    def gw(self):
        return self.server.gw

    @property
    def args(self):
        return self.server.gw.args

    def send(self, status, body, ctype="text/xml; charset=utf-8"):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def err(self, status, contract, href, display):
        self.send(status, doc('<err is="obix:%s" href=%s display=%s/>' % (contract, quoteattr(href), quoteattr(display))))

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PUT(self):
        self.route("PUT")

    def route(self, method):
        u = urllib.parse.urlsplit(self.path)
        path = u.path
        q = urllib.parse.parse_qs(u.query)
        if path.startswith("/_ctl/"):
            return self.control(path, q)
        body = self.body()
        gw = self.gw
        with gw.lock:
            gw.log.append("%s %s" % (method, self.path))
            if gw.outage:
                return self.send(503, "gateway down\n", "text/plain")
        if self.args.user:
            import base64
            want = "Basic " + base64.b64encode(("%s:%s" % (self.args.user, self.args.password)).encode()).decode()
            if self.headers.get("Authorization") != want:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="obix"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        with gw.lock:
            try:
                self.obix(method, path, q, body)
            except ET.ParseError as e:
                self.err(400, "Err", self.path, "bad request document: %s" % e)

    # --- oBIX -------------------------------------------------------------

    def obix(self, method, path, q, body):
        gw, args = self.gw, self.args
        if path in ("/obix", "/obix/") and method == "GET":
            return self.send(200, doc(self.lobby()))
        if path == "/obix/about/":
            return self.send(200, doc('<obj href="/obix/about/" is="obix:About"><str name="obixVersion" val="%s"/>'
                                      '<str name="vendorName" val="setsuden tests"/><str name="productName" val="obixd"/></obj>'
                                      % args.version))
        if path == "/obix/batch/" and method == "POST":
            return self.batch(body)
        if path.startswith("/obix/watchService/"):
            return self.watch_service(method, path, body)
        if path.startswith("/obix/histories/"):
            return self.history(method, path, q, body)
        if path in ("/obix/config/", "/obix/config"):
            return self.send(200, doc(self.tree()))
        p = gw.point(path)
        if p is None:
            return self.err(404, "BadUriErr", path, "no such object")
        if method == "GET":
            return self.read_point(p)
        if method == "PUT":
            return self.write_point(p, body)
        return self.err(405 if args.version == "1.0" else 501, "UnsupportedErr", path, "%s not supported here" % method)

    def lobby(self):
        a = self.args
        parts = ['<obj href="/obix/" is="obix:Lobby">', '<ref name="about" href="about/" is="obix:About"/>']
        if a.batch != "none":
            parts.append('<op name="batch" href="batch/" in="obix:BatchIn" out="obix:BatchOut"/>')
        parts.append('<ref name="watchService" href="watchService/" is="obix:WatchService"/>')
        parts.append('<ref name="config" href="config/" displayName="Facility"/>')
        parts.append("</obj>")
        return "".join(parts)

    def tree(self):
        out = ['<obj href="/obix/config/" displayName="Facility">']
        for p in self.gw.points.values():
            out.append(p.xml(self.args))
        out.append("</obj>")
        return "".join(out)

    def read_point(self, p):
        if p.garbage:
            return self.send(200, '<?xml version="1.0"?>\n<real href="%s" val="1.0"><oops></real>' % p.href)
        if p.err:
            return self.err(404, "BadUriErr", p.href, "point is gone")
        return self.send(200, doc(p.xml(self.args)))

    def write_point(self, p, body):
        if not p.writable:
            return self.err(403, "PermissionErr", p.href, "point is read-only")
        el = ET.fromstring(body)
        kind = el.tag.split("}")[-1]
        val = el.get("val")
        if kind != p.kind or val is None:
            return self.err(400, "Err", p.href, "expected <%s val=...>" % p.kind)
        if kind == "real":
            f = float(val)
            if self.args.write_quirk == "round":
                f = round(f)  # a gateway that keeps whole degrees only
            val = repr(f)
        if kind == "bool" and val not in ("true", "false"):
            return self.err(400, "Err", p.href, "bool must be true or false")
        if self.args.write_quirk != "ignore":
            p.val = val
            p.ver += 1
        return self.send(200, doc(p.xml(self.args)))

    def batch(self, body):
        a = self.args
        if a.batch in ("badurierr", "unsupported"):
            contract = "BadUriErr" if a.batch == "badurierr" else "UnsupportedErr"
            return self.err(a.batch_status, contract, "/obix/batch/", "batch is not supported")
        root = ET.fromstring(body)
        items = []
        if any(self.gw.point(urllib.parse.urlsplit(u.get("val", "")).path) and
               self.gw.point(urllib.parse.urlsplit(u.get("val", "")).path).garbage for u in root):
            # One broken point breaks the whole document.
            return self.send(200, '<?xml version="1.0"?>\n<list is="obix:BatchOut"><real val="1"></list>')
        for u in root:
            href = urllib.parse.urlsplit(u.get("val", "")).path
            p = self.gw.point(href)
            if p is None:
                items.append('<err href=%s is="obix:BadUriErr"/>' % quoteattr(href))
            else:
                items.append(p.xml(a))
        self.send(200, doc('<list is="obix:BatchOut" of="obix:obj">%s</list>' % "".join(items)))

    # --- watches ----------------------------------------------------------

    def watch_service(self, method, path, body):
        gw, a = self.gw, self.args
        rest = path[len("/obix/watchService/"):]
        if rest == "" and method == "GET":
            if a.watch_service == "unreadable":
                return self.err(404, "BadUriErr", path, "watch service is not browsable")
            return self.send(200, doc('<obj href="/obix/watchService/" is="obix:WatchService">'
                                      '<op name="make" href="make/" in="obix:Nil" out="obix:Watch"/></obj>'))
        if rest == "make/" and method == "POST":
            gw.next_watch += 1
            w = Watch("watch%d" % gw.next_watch, a.lease)
            gw.watches[w.id] = w
            return self.send(200, doc(self.watch_xml(w)))
        wid, _, op = rest.partition("/")
        op = op.strip("/")
        w = gw.watches.get(wid)
        if w is not None and w.expired():
            del gw.watches[wid]
            w = None
        if w is None:
            return self.err(404, "BadUriErr", path, "no such watch (expired?)")
        w.contact = time.monotonic()
        if op == "" and method == "GET":
            return self.send(200, doc(self.watch_xml(w)))
        if op == "lease":
            if method == "GET":
                return self.send(200, doc(self.lease_xml(w)))
            if method == "PUT":
                if a.lease_write == "refuse":
                    return self.err(403, "PermissionErr", path, "lease is fixed by the server")
                if a.lease_write == "readonly":
                    return self.err(405, "UnsupportedErr", path, "lease is not writable")
                el = ET.fromstring(body)
                secs = parse_reltime(el.get("val", ""))
                if a.lease_write == "ignore":
                    secs = w.lease
                if a.lease_max:
                    secs = min(secs, a.lease_max)
                w.lease = secs
                return self.send(200, doc(self.lease_xml(w)))
        if method != "POST":
            return self.err(405, "UnsupportedErr", path, "ops are POSTed")
        if op in ("add", "remove"):
            root = ET.fromstring(body) if body else None
            hrefs = []
            if root is not None:
                for el in root.iter():
                    if el.tag.split("}")[-1] == "uri":
                        hrefs.append(urllib.parse.urlsplit(el.get("val", "")).path)
            if op == "remove":
                w.hrefs = [h for h in w.hrefs if h not in hrefs]
                return self.send(200, doc('<obj null="true"/>'))
            for h in hrefs:
                if h not in w.hrefs:
                    w.hrefs.append(h)
            return self.send(200, doc(self.watch_out(w, hrefs, True)))
        if op == "pollChanges":
            return self.send(200, doc(self.watch_out(w, w.hrefs, False)))
        if op == "pollRefresh":
            return self.send(200, doc(self.watch_out(w, w.hrefs, True)))
        if op == "delete":
            del gw.watches[wid]
            return self.send(200, doc('<obj null="true"/>'))
        return self.err(404, "BadUriErr", path, "no such op")

    def lease_xml(self, w, name=False):
        writable = ' writable="true"' if self.args.lease_write != "readonly" else ""
        n = ' name="lease"' if name else ""
        return '<reltime%s href="/obix/watchService/%s/lease/" val="PT%gS"%s/>' % (n, w.id, w.lease, writable)

    def watch_xml(self, w):
        ops = "".join('<op name="%s" href="%s/" in="obix:%s" out="obix:%s"/>' % (o, o, i, out) for o, i, out in [
            ("add", "WatchIn", "WatchOut"), ("remove", "WatchIn", "Nil"), ("pollChanges", "Nil", "WatchOut"),
            ("pollRefresh", "Nil", "WatchOut"), ("delete", "Nil", "Nil")])
        return '<obj href="/obix/watchService/%s/" is="obix:Watch">%s%s</obj>' % (w.id, self.lease_xml(w, True).replace(
            'href="/obix/watchService/%s/lease/"' % w.id, 'href="lease/"'), ops)

    def watch_out(self, w, hrefs, full):
        items = []
        for h in hrefs:
            p = self.gw.point(h)
            if p is None:
                items.append('<err href=%s is="obix:BadUriErr"/>' % quoteattr(h))
                continue
            if p.garbage:
                return '<obj is="obix:WatchOut"><list name="values"><real val="1"></list></obj>'
            state = (p.ver, p.val, p.status, p.null, p.err)
            if full or w.sent.get(h) != state:
                items.append(p.xml(self.args))
            w.sent[h] = state
        return '<obj is="obix:WatchOut"><list name="values" of="obix:obj">%s</list></obj>' % "".join(items)

    # --- histories --------------------------------------------------------

    def history(self, method, path, q, body):
        a, gw = self.args, self.gw
        rest = path[len("/obix/histories/"):]
        name, _, op = rest.partition("/")
        op = op.strip("/")
        p = next((x for x in gw.points.values() if x.hist_name == name), None)
        if p is None or a.history == "none":
            return self.err(404, "BadUriErr", path, "no such history")
        if op == "" and method == "GET":
            ops = ""
            if a.history == "query":
                ops = '<op name="query" href="query/" in="obix:HistoryFilter" out="obix:HistoryQueryOut"/>'
            elif a.history == "niagara":
                ops = '<op name="query" href="~historyQuery/" in="/obix/def/obix:HistoryFilter" out="/obix/def/obix:HistoryQueryOut"/>'
            return self.send(200, doc('<obj href="/obix/histories/%s/" is="obix:History"><int name="count" val="%d"/>'
                                      '<str name="tz" val="Etc/GMT%+d"/>%s</obj>' % (name, len(p.history), -a.tz_offset, ops)))
        start = end = None
        limit = 0
        if op == "query" and method == "POST" and a.history == "query":
            f = ET.fromstring(body)
            for el in f:
                n = el.get("name")
                if el.get("null") == "true":
                    continue
                if n == "limit":
                    limit = int(el.get("val"))
                elif n == "start":
                    start = parse_abstime(el.get("val"))
                elif n == "end":
                    end = parse_abstime(el.get("val"))
        elif op == "~historyQuery" and method == "GET" and a.history in ("get", "niagara"):
            if "start" in q:
                start = parse_abstime(q["start"][0])
            if "end" in q:
                end = parse_abstime(q["end"][0])
            if "limit" in q:
                limit = int(q["limit"][0])
        elif op == "~historyQuery" and method == "POST" and a.history == "niagara":
            return self.err(501, "UnsupportedErr", path, "use GET ~historyQuery?start=&end=")
        else:
            return self.err(404, "BadUriErr", path, "no such op")
        recs = [r for r in p.history if (start is None or r[0] >= start) and (end is None or r[0] <= end)]
        if a.history_cap:
            limit = min(limit, a.history_cap) if limit else a.history_cap
        if limit:
            recs = recs[:limit]
        self.send(200, doc(self.query_out(p, name, recs)))

    def query_out(self, p, name, recs):
        a = self.args
        tzname = "Etc/GMT%+d" % -a.tz_offset
        rows = []
        for t, v in recs:
            val = '<real name="value" null="true"/>' if v is None else '<real name="value" val="%s"/>' % v
            rows.append('<obj><abstime name="timestamp" val="%s" tz="%s"/>%s</obj>' % (abstime(t), tzname, val))
        count = '<int name="count" val="%d"/>' % len(recs)
        span = ""
        if recs:
            span = '<abstime name="start" val="%s" tz="%s"/><abstime name="end" val="%s" tz="%s"/>' % (
                abstime(recs[0][0]), tzname, abstime(recs[-1][0]), tzname)
        if a.record_layout == "spec":
            rows = [r.replace('<real name="value"', '<real name="value" unit="%s"' % p.unit) for r in rows]
            return ('<obj is="obix:HistoryQueryOut">%s%s<list name="data" of="obix:HistoryRecord">%s</list></obj>'
                    % (count, span, "".join(rows)))
        proto = '<abstime name="timestamp" tz="%s"/><real name="value" unit="%s"/>' % (tzname, p.unit)
        if a.record_layout == "prototype":
            # oBIX 1.1: the record prototype as a child named "prototype".
            return ('<obj is="obix:HistoryQueryOut"><obj name="prototype" is="obix:HistoryRecord">%s</obj>'
                    '<list name="data" of="obix:HistoryRecord">%s</list>%s%s</obj>' % (proto, "".join(rows), span, count))
        # Niagara: the data list first, a local #RecordDef prototype last.
        return ('<obj href="/obix/histories/%s/~historyQuery/" is="obix:HistoryQueryOut">'
                '<list name="data" of="#RecordDef obix:HistoryRecord">%s</list>%s%s'
                '<obj href="#RecordDef" is="obix:HistoryRecord">%s</obj></obj>' % (name, "".join(rows), count, span, proto))

    # --- control ----------------------------------------------------------

    def control(self, path, q):
        gw = self.gw
        with gw.lock:
            if path == "/_ctl/set":
                p = gw.point(q["href"][0])
                if p is None:
                    return self.send(404, "no such point\n", "text/plain")
                if "val" in q:
                    p.val = q["val"][0]
                p.status = q.get("status", ["ok"])[0]
                p.null = q.get("null", ["0"])[0] == "1"
                p.err = q.get("err", ["0"])[0] == "1"
                p.garbage = q.get("garbage", ["0"])[0] == "1"
                p.ver += 1
                return self.send(200, "ok\n", "text/plain")
            if path == "/_ctl/outage":
                gw.outage = q.get("on", ["1"])[0] == "1"
                return self.send(200, "ok\n", "text/plain")
            if path == "/_ctl/drop-watches":
                n = len(gw.watches)
                gw.watches.clear()
                return self.send(200, "%d\n" % n, "text/plain")
            if path == "/_ctl/history":
                p = gw.point(q["href"][0])
                recs = [{"t": abstime(t), "v": v} for t, v in p.history]
                return self.send(200, json.dumps(recs), "application/json")
            if path == "/_ctl/log":
                return self.send(200, "\n".join(gw.log) + "\n", "text/plain")
        self.send(404, "no such control\n", "text/plain")


def parse_reltime(s):
    """xs:duration in seconds (days, hours, minutes, seconds)."""
    s = s.strip()
    if not s.startswith("P"):
        raise ValueError("bad reltime %r" % s)
    total, num, in_time = 0.0, "", False
    for c in s[1:]:
        if c == "T":
            in_time = True
        elif c.isdigit() or c == ".":
            num += c
        else:
            n = float(num or 0)
            num = ""
            total += {"D": 86400, "H": 3600, "S": 1}.get(c, 60 if in_time and c == "M" else 0) * n
    return total


def parse_abstime(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--version", choices=["1.0", "1.1"], default="1.1")
    ap.add_argument("--user", default="")
    ap.add_argument("--password", default="")
    ap.add_argument("--batch", choices=["ok", "none", "badurierr", "unsupported"], default="ok",
                    help="the lobby's batch op: works, is absent, or answers an err")
    ap.add_argument("--batch-status", type=int, default=200, help="HTTP status of the batch op's err")
    ap.add_argument("--status-in", choices=["attr", "display"], default="attr",
                    help="status as the status facet, or only in display (Niagara)")
    ap.add_argument("--lease", type=float, default=60, help="the lease of a new watch, seconds")
    ap.add_argument("--lease-max", type=float, default=0, help="cap on written leases, seconds (0: none)")
    ap.add_argument("--lease-write", choices=["accept", "refuse", "readonly", "ignore"], default="accept",
                    help="lease writes: taken (capped), refused with an err, not writable, or answered with the old lease")
    ap.add_argument("--watch-service", choices=["readable", "unreadable"], default="readable")
    ap.add_argument("--history", choices=["query", "get", "niagara", "none"], default="query",
                    help="history query op (POST HistoryFilter), GET ~historyQuery only, Niagara (GET; POST refused), none")
    ap.add_argument("--record-layout", choices=["spec", "niagara", "prototype"], default="spec",
                    help="HistoryQueryOut: spec order with units on records, Niagara (data first, #RecordDef), 1.1 prototype child")
    ap.add_argument("--history-every", type=float, default=0.5, help="seconds between history records")
    ap.add_argument("--history-cap", type=int, default=0, help="records per query answer (0: no cap)")
    ap.add_argument("--tz-offset", type=int, default=9, help="the gateway's UTC offset in hours")
    ap.add_argument("--write-quirk", choices=["none", "round", "ignore"], default="none",
                    help="writes: stored as sent, rounded to whole units, or acknowledged and ignored")
    args = ap.parse_args()

    gw = Gateway(args)
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.gw = gw
    threading.Thread(target=gw.record_history, daemon=True).start()
    print("obixd listening on %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
