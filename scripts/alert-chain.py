#!/usr/bin/env python3
"""The Python side of the alert chain the e2e scripts run (Prometheus with
the shipped rules -> Alertmanager -> a webhook of the test); the shell side
is scripts/alert-chain.sh. Used by scripts/prometheus-e2e.sh and
scripts/asterisk-e2e.sh.

  alert-chain.py webhook PORT FILE
      The webhook receiver on 127.0.0.1:PORT: each POST (an Alertmanager
      notification) appended to FILE as a JSON line {"t": receive time
      (Unix seconds), "path": the URL path, "body": the notification}.
  alert-chain.py listening PORT... [--timeout S]
      Waits until something accepts connections on each 127.0.0.1:PORT.
  alert-chain.py for RULES ALERT
      The for: of ALERT in the rules file RULES, in whole seconds.
  alert-chain.py query PROMETHEUS QUERY [--timeout S]
      Waits until the instant QUERY has a result in the Prometheus at URL
      PROMETHEUS; prints the seconds it took.
  alert-chain.py notified FILE --skip N --since T --limit S --status STATUS
                 --path PATH [--name NAME] LABEL=VALUE...
      Waits for a notification in the webhook's FILE, after its first N
      lines, that carries an alert with status STATUS (firing, resolved)
      and every LABEL=VALUE, at most S seconds after the Unix time T.
      Prints each alert of the same trunk seen meanwhile (its delay from T,
      path, name, status and cause), then "TOOK SECONDS" when the alert
      came; exits 1 when it came late, to another path than PATH, or not
      at all.
"""
import argparse
import json
import re
import socket
import sys
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer


def webhook(a):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            t = time.time()
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with open(a.file, "a") as f:
                f.write(json.dumps({"t": t, "path": self.path, "body": json.loads(body)}) + "\n")
            self.send_response(200)
            self.end_headers()

        def log_message(self, fmt, *args):
            sys.stderr.write("webhook: " + fmt % args + "\n")
    HTTPServer(("127.0.0.1", a.port), Handler).serve_forever()


def listening(a):
    end = time.monotonic() + a.timeout
    for port in a.ports:
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > end:
                sys.exit("nothing listens on 127.0.0.1:%d after %g s" % (port, a.timeout))
            time.sleep(0.1)


def duration(text):
    return sum(int(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u] for n, u in re.findall(r"(\d+)(ms|s|m|h)", text))


def for_of(a):
    m = re.search(r"- alert: %s\n(?:(?!  - alert:).*\n)*?\s+for: (\S+)" % re.escape(a.alert), open(a.rules).read())
    if not m:
        sys.exit("no for: for %s in %s" % (a.alert, a.rules))
    print(int(duration(m.group(1))))


def query(a):
    url = a.prometheus.rstrip("/") + "/api/v1/query?query=" + urllib.parse.quote(a.query)
    start = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if json.load(r)["data"]["result"]:
                    break
        except OSError:
            pass
        if time.monotonic() - start > a.timeout:
            sys.exit("after %g s Prometheus has no result for %s" % (a.timeout, a.query))
        time.sleep(0.2)
    print("%.1f" % (time.monotonic() - start))


def notified(a):
    want = dict(kv.split("=", 1) for kv in a.labels)
    what = "%s %s{%s}" % (a.status, want.get("alertname", "alert"),
                          ",".join("%s=%s" % kv for kv in sorted(want.items()) if kv[0] != "alertname"))
    seen = set()
    while True:
        with open(a.file) as f:
            lines = f.read().splitlines()[a.skip:]
        for i, line in enumerate(lines):
            n = json.loads(line)
            for alert in n["body"]["alerts"]:
                labels = alert["labels"]
                if "trunk" in want and labels.get("trunk") != want["trunk"]:
                    continue
                key = (i, labels.get("alertname"), labels.get("trunk"), alert["status"])
                if key not in seen:
                    seen.add(key)
                    print("%s:   %6.2f s  %s: %s %s cause=%s" % (a.name, n["t"] - a.since, n["path"],
                          labels.get("alertname"), alert["status"], labels.get("cause", "-")))
                if alert["status"] == a.status and all(labels.get(k) == v for k, v in want.items()):
                    took = n["t"] - a.since
                    print("TOOK %.2f" % took)
                    if took > a.limit:
                        sys.exit("%s: the %s came %.2f s after, over the %g s allowed" % (a.name, what, took, a.limit))
                    if n["path"] != a.path:
                        sys.exit("%s: the %s went to %s, not %s" % (a.name, what, n["path"], a.path))
                    return
        if time.time() - a.since > a.limit:
            sys.exit("%s: no %s at the webhook within %g s" % (a.name, what, a.limit))
        time.sleep(0.1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("webhook")
    s.add_argument("port", type=int)
    s.add_argument("file")
    s.set_defaults(run=webhook)
    s = sub.add_parser("listening")
    s.add_argument("ports", type=int, nargs="+")
    s.add_argument("--timeout", type=float, default=30)
    s.set_defaults(run=listening)
    s = sub.add_parser("for")
    s.add_argument("rules")
    s.add_argument("alert")
    s.set_defaults(run=for_of)
    s = sub.add_parser("query")
    s.add_argument("prometheus")
    s.add_argument("query")
    s.add_argument("--timeout", type=float, default=60)
    s.set_defaults(run=query)
    s = sub.add_parser("notified")
    s.add_argument("file")
    s.add_argument("--skip", type=int, required=True)
    s.add_argument("--since", type=float, required=True)
    s.add_argument("--limit", type=float, required=True)
    s.add_argument("--status", choices=("firing", "resolved"), required=True)
    s.add_argument("--path", required=True)
    s.add_argument("--name", default="alert-chain")
    s.add_argument("labels", nargs="+", metavar="LABEL=VALUE")
    s.set_defaults(run=notified)
    a = p.parse_args()
    a.run(a)


if __name__ == "__main__":
    main()
