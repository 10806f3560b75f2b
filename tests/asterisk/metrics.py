#!/usr/bin/env python3
"""Asterisk's /metrics (res_prometheus) with res_regwatch's series in it,
for the end-to-end test.

  metrics.py fetch URL FILE        GET URL into FILE; prints "STATUS BYTES"
                                   (STATUS "refused" when nothing listens);
                                   exit 0 only on 200
  metrics.py count FILE            regwatch_trunk_up series in FILE
  metrics.py part FILE             FILE's regwatch_* families only
  metrics.py check PAGE TABLE HOST SHOW
                                   PAGE against `regwatch show trunks`
                                   (TABLE) and `regwatch show metrics`
                                   (SHOW); figures on stdout, "FAIL: ..."
                                   lines and exit 1 on a mismatch
  metrics.py alerts PROMETHEUS RULES START
                                   what a Prometheus that scrapes /metrics
                                   with RULES (started at Unix time START)
                                   fired: the failing trunks' alerts within
                                   their for: (+5 s) of the first scrape
                                   that had the trunk down, none for the
                                   healthy trunks, no RegwatchHostDown;
                                   waits up to the longest for: + 60 s
  metrics.py watch URL STOPFILE OUT
                                   scrapes URL every 0.1 s until STOPFILE
                                   exists; every page must be a 200 with
                                   the regwatch families each once and
                                   either no trunk (res_regwatch unloaded
                                   at that moment) or all of them; the
                                   counts as JSON in OUT
"""
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def fetch(url):
    """(status, body): status an int, or "refused"."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return "refused", b""


def parse(text):
    """(samples, types): samples [(name, {labels}, value)], types {family: [TYPE, ...]}."""
    samples, types = [], {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            f = line.split()
            types.setdefault(f[2], []).append(f[3])
        elif line and not line.startswith("#"):
            m = SAMPLE.match(line)
            if not m:
                raise ValueError("not a sample: %r" % line)
            samples.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return samples, types


def regwatch_part(text):
    return "".join(l + "\n" for l in text.splitlines()
                   if l.startswith("regwatch_") or re.match(r"# (HELP|TYPE) regwatch_", l))


def table_rows(text):
    """`regwatch show trunks` -> {trunk: (state, cause, alerting)}."""
    rows = {}
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) >= 4 and not f[0].isdigit():
            rows[f[0]] = (f[1], f[2], f[-1] == "ALERT")
    return rows


def check(page, table, host, show):
    text = open(page).read()
    samples, types = parse(text)
    rows = table_rows(open(table).read())
    fails = []
    rw = [s for s in samples if s[0].startswith("regwatch_")]
    ast = [s for s in samples if s[0].startswith("asterisk_")]
    if not any(n == "asterisk_core_uptime_seconds" for n, _, _ in ast):
        fails.append("no asterisk_core_uptime_seconds: not Asterisk's page")
    for fam, t in types.items():
        if len(t) > 1:
            fails.append("%s has %d TYPE lines (registered twice?)" % (fam, len(t)))
    up = {l.get("trunk"): (l, v) for n, l, v in rw if n == "regwatch_trunk_up"}
    if sorted(up) != sorted(rows):
        fails.append("regwatch_trunk_up trunks %s, regwatch show trunks %s" % (sorted(up), sorted(rows)))
    for trunk, (labels, value) in sorted(up.items()):
        if set(labels) != {"trunk", "host", "domain", "transport", "cause"}:
            fails.append("%s: labels %s" % (trunk, sorted(labels)))
        if labels.get("host") != host:
            fails.append("%s: host=%r, not %r" % (trunk, labels.get("host"), host))
        if trunk not in rows:
            continue
        state, cause, alerting = rows[trunk]
        if labels.get("cause") != cause:
            fails.append("%s: cause=%s on /metrics, %s in regwatch show trunks" % (trunk, labels.get("cause"), cause))
        if alerting and value != 0:
            fails.append("%s: alert raised but regwatch_trunk_up %g" % (trunk, value))
        st = [v for n, l, v in rw if n == "regwatch_trunk_state" and l.get("trunk") == trunk]
        if st != [1] or not any(n == "regwatch_trunk_state" and l.get("trunk") == trunk and l.get("state") == state
                                and l.get("cause") == cause for n, l, _ in rw):
            fails.append("%s: regwatch_trunk_state is not state=%s cause=%s at 1" % (trunk, state, cause))
    want = {"good": (1, "healthy"), "soakgood": (1, "healthy"), "wrongpw": (0, "credentials_rejected"),
            "soakbad": (0, "credentials_rejected"), "nodomain": (0, "domain_not_found"),
            "mismatch": (0, "auth_username_mismatch"), "regoff": (0, "account_forbidden")}
    for trunk, (value, cause) in want.items():
        got = up.get(trunk)
        if not got or got[1] != value or got[0].get("cause") != cause:
            fails.append("%s: regwatch_trunk_up %s, want %d with cause=%s"
                         % (trunk, (got[1], got[0].get("cause")) if got else None, value, cause))

    def one(name, trunk, **extra):
        v = [v for n, l, v in rw if n == name and l.get("trunk") == trunk
             and all(l.get(k) == x for k, x in extra.items())]
        return v[0] if len(v) == 1 else None
    for name, trunk, extra, least in (
            ("regwatch_granted_expires_seconds", "good", {}, 1),
            ("regwatch_binding_remaining_seconds", "good", {}, 1),
            ("regwatch_register_attempts_total", "good", {}, 1),
            ("regwatch_registration_request_delay_seconds_count", "good", {}, 1),
            ("regwatch_keepalive_probes_total", "good", {}, 1),
            ("regwatch_register_failures_total", "wrongpw", {"cause": "credentials_rejected"}, 1)):
        v = one(name, trunk, **extra)
        if v is None or v < least:
            fails.append("%s{trunk=%s%s} is %s, want >= %d" % (name, trunk, "".join(",%s=%s" % kv for kv in extra.items()), v, least))
    alerts = [v for n, l, v in rw if n == "regwatch_alerts_active"]
    raised = sum(1 for r in rows.values() if r[2])
    if alerts != [raised]:
        fails.append("regwatch_alerts_active %s, regwatch show trunks has %d ALERT" % (alerts, raised))
    shown, _ = parse(open(show).read())
    key = lambda s: (s[0], tuple(sorted(s[1].items())))
    if sorted(map(key, shown)) != sorted(map(key, rw)):
        fails.append("regwatch show metrics and /metrics differ in their series: %s"
                     % sorted(set(map(key, shown)) ^ set(map(key, rw)))[:4])
    part = regwatch_part(text)
    print("page %d bytes, %d samples: %d regwatch_ (%d bytes, %d families, %d trunks), %d asterisk_"
          % (len(text), len(samples), len(rw), len(part), sum(1 for f in types if f.startswith("regwatch_")),
             len(up), len(ast)))
    for f in fails:
        print("FAIL: " + f)
    return 1 if fails else 0


# The e2e trunks: which alert each failing one must fire, and those that
# must fire none (outage and plain go down on purpose for a few seconds, as
# does the watch's watch-outage; watch-main is the watch's trunk on the
# main registrar).
FIRING = {"wrongpw": "RegwatchCredentialsRejected", "soakbad": "RegwatchCredentialsRejected",
          "outagewrongpw": "RegwatchCredentialsRejected", "mismatch": "RegwatchCredentialsRejected",
          "regoff": "RegwatchCredentialsRejected", "nodomain": "RegwatchTrunkDown",
          "udpblocked": "RegwatchTrunkDown"}
QUIET = ("good", "soakgood", "brief", "watch-main")


def seconds(d):
    return sum(int(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u] for n, u in re.findall(r"(\d+)(ms|s|m|h)", d))


def alerts(prom, rules, start):
    start = float(start)
    fors = {m.group(1): seconds(m.group(2)) for m in
            re.finditer(r"- alert: (\w+)\n(?:(?!  - alert:).*\n)*?\s+for: (\S+)", open(rules).read())}

    def query(q, instant=False):
        now = time.time()
        path = ("/api/v1/query?query=%s" % urllib.parse.quote(q) if instant else
                "/api/v1/query_range?query=%s&start=%.3f&end=%.3f&step=1" % (urllib.parse.quote(q), start, now))
        with urllib.request.urlopen(prom + path, timeout=10) as r:
            return json.load(r)["data"]["result"]

    def first(q):
        ts = [float(v[0]) for r in query(q) for v in r["values"]]
        return min(ts) if ts else None
    deadline = start + max(fors[a] for a in set(FIRING.values())) + 60
    while True:
        fired = {(r["metric"]["alertname"], r["metric"].get("trunk")): r["metric"] for r in
                 query('max_over_time(ALERTS{alertstate="firing"}[1h])', instant=True)}
        if all((a, t) in fired for t, a in FIRING.items()) or time.time() > deadline:
            break
        time.sleep(1)
    fails = []
    up = first('up{job="asterisk"} == 1')
    print("prometheus: first scrape of Asterisk's /metrics up %s s after its start" % (
        "%.1f" % (up - start) if up else "never"))
    for trunk, alert in sorted(FIRING.items()):
        down = first('regwatch_trunk_up{trunk="%s"} == 0' % trunk)
        at = first('ALERTS{alertstate="firing",alertname="%s",trunk="%s"}' % (alert, trunk))
        cause = fired.get((alert, trunk), {}).get("cause", "-")
        if at is None or down is None:
            fails.append("%s{trunk=%s} never fired (down in Prometheus: %s)" % (alert, trunk, down is not None))
            continue
        print("prometheus: %s{trunk=%s,cause=%s} firing %.1f s after the first scrape with the trunk down (for: %gs)"
              % (alert, trunk, cause, at - down, fors[alert]))
        if at - down > fors[alert] + 5:
            fails.append("%s{trunk=%s} fired %.1f s after the trunk was down, for: is %g s" % (alert, trunk, at - down, fors[alert]))
    others = sorted("%s{trunk=%s,cause=%s}" % (a, t, m.get("cause", "-")) for (a, t), m in fired.items()
                    if FIRING.get(t) != a)
    print("prometheus: also fired: %s" % (", ".join(others) or "nothing"))
    for (a, t), m in sorted(fired.items()):
        if t in QUIET or a == "RegwatchHostDown":
            fails.append("%s fired for %s (cause %s)" % (a, t or m.get("host"), m.get("cause")))
    for f in fails:
        print("FAIL: " + f)
    return 1 if fails else 0


def watch(url, stop, out):
    n = {"scrapes": 0, "with_trunks": 0, "without_trunks": 0, "bad": 0, "examples": []}
    trunks = set()
    while not os.path.exists(stop):
        status, body = fetch(url)
        n["scrapes"] += 1
        try:
            if status != 200:
                raise ValueError("HTTP %s" % status)
            samples, types = parse(body.decode())
            twice = [f for f, t in types.items() if len(t) > 1]
            if twice:
                raise ValueError("families twice: %s" % twice[:3])
            got = {l.get("trunk") for s, l, _ in samples if s == "regwatch_trunk_up"}
            if not got:
                n["without_trunks"] += 1
            else:
                trunks = trunks or got
                if got != trunks:
                    raise ValueError("trunks %s, earlier %s" % (sorted(got), sorted(trunks)))
                n["with_trunks"] += 1
        except ValueError as e:
            n["bad"] += 1
            if len(n["examples"]) < 5:
                n["examples"].append(str(e))
        time.sleep(0.1)
    n["trunks"] = len(trunks)
    json.dump(n, open(out, "w"))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "fetch":
        status, body = fetch(args[0])
        open(args[1], "wb").write(body)
        print(status, len(body))
        return 0 if status == 200 else 1
    if cmd == "count":
        samples, _ = parse(open(args[0]).read())
        print(sum(1 for n, _, _ in samples if n == "regwatch_trunk_up"))
        return 0
    if cmd == "part":
        sys.stdout.write(regwatch_part(open(args[0]).read()))
        return 0
    if cmd == "check":
        return check(*args)
    if cmd == "alerts":
        return alerts(*args)
    if cmd == "watch":
        watch(*args)
        return 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
