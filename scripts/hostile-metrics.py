#!/usr/bin/env python3
"""Hostile clients against `regwatch watch --metrics` (issue 13).

Starts `regwatch watch --metrics 127.0.0.1:PORT` on a trunk file whose
only trunk points at a closed loopback port (only the HTTP side matters),
then, in order:

1. header flood: one client sends a request line and then header bytes
   without a newline, without end, until the server drops it (or the
   process passes --rss-cap-mb, or --flood-max-mb were sent);
2. a 1 MiB header: one request whose header line is 1 MiB long; the
   server must answer 431 or close, not read it whole;
3. held attack: --slowloris connections trickling one header byte every
   2 s, --idle connections that send nothing, and a client sending 1 MiB
   headers in a loop, all reconnecting when the server drops them; while
   they hold, well-behaved scrapes every 100 ms for --duration seconds;
4. over the cap: --overflow more connections: how many are answered (503)
   or closed within 1 s;
5. SIGTERM while the attackers still hold their connections: the time
   until the process has exited.

The resident set size (VmRSS from /proc) is sampled every 20 ms from
start to end. Prints a table of figures, and exits 1 when a bound is
violated: every scrape under --scrape-bound-ms (100), RSS growth under
--rss-bound-mb (64), exit on SIGTERM under --term-bound-s (1), the flood
and the 1 MiB header dropped by the server. Python 3 standard library only.

    scripts/hostile-metrics.py [--bin target/debug/regwatch]
"""
import argparse
import errno
import os
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SCRAPE = (
    b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Accept: text/plain\r\nUser-Agent: hostile-metrics\r\nConnection: close\r\n\r\n"
)
MIB = 1024 * 1024


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class RssMonitor(threading.Thread):
    """Samples the child's VmRSS; raises `over_cap` past the cap."""

    def __init__(self, pid, cap_kib):
        super().__init__(daemon=True)
        self.pid, self.cap_kib = pid, cap_kib
        self.peak = 0
        self.over_cap = threading.Event()
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            r = rss_kib(self.pid)
            if r is None:
                return
            self.peak = max(self.peak, r)
            if r > self.cap_kib:
                self.over_cap.set()
            time.sleep(0.02)


def scrape(port, timeout):
    """One well-behaved scrape: (seconds, status line or error)."""
    t0 = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(max(0.001, timeout - (time.monotonic() - t0)))
            s.sendall(SCRAPE)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                s.settimeout(max(0.001, timeout - (time.monotonic() - t0)))
    except socket.timeout:
        return time.monotonic() - t0, "timeout"
    except OSError as e:
        return time.monotonic() - t0, f"error: {e.strerror or e}"
    dt = time.monotonic() - t0
    head = data.split(b"\r\n", 1)[0].decode("latin-1")
    if not head.startswith("HTTP/1.1 200") or b"regwatch_trunk_up" not in data:
        return dt, f"bad answer: {head!r}"
    return dt, "200"


def header_flood(port, mon, max_bytes, limit_s):
    """Header bytes without a newline until the server drops the client.
    Returns (bytes sent, outcome)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nX-Flood: ")
    chunk = b"a" * 65536
    sent, t0 = 0, time.monotonic()
    s.settimeout(2)
    try:
        while True:
            if mon.over_cap.is_set():
                return sent, "stopped: RSS cap reached"
            if sent >= max_bytes:
                return sent, "stopped: all sent, never dropped"
            if time.monotonic() - t0 > limit_s:
                return sent, "stopped: time limit, never dropped"
            try:
                sent += s.send(chunk)
            except socket.timeout:
                # The server stopped reading but did not close: it must
                # close (deadline) soon.
                continue
    except OSError:
        return sent, "dropped by the server"
    finally:
        s.close()


def big_header(port, size=MIB, timeout=5.0):
    """A request with one `size`-byte header line. Returns (bytes sent,
    outcome): '431', 'closed' (reset or EOF before the end), or what the
    server answered after reading it all."""
    line = b"GET /metrics HTTP/1.1\r\nX-Big: " + b"b" * size + b"\r\n\r\n"
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as e:
        return 0, f"connect: {e}"
    s.settimeout(timeout)
    sent = 0
    try:
        view = memoryview(line)
        while sent < len(line):
            sent += s.send(view[sent:sent + 65536])
    except socket.timeout:
        s.close()
        return sent, "timeout while sending"
    except OSError:
        pass
    try:
        data = s.recv(4096)
    except socket.timeout:
        return sent, "timeout waiting for an answer"
    except OSError:
        data = b""
    finally:
        s.close()
    if data.startswith(b"HTTP/1.1 431"):
        return sent, "431"
    if not data:
        return sent, "closed"
    return sent, "answered " + data.split(b"\r\n", 1)[0].decode("latin-1")


class Attack(threading.Thread):
    """Idle and slowloris connections held open from one selector thread;
    each one the server drops is counted (with how long it was held) and
    opened again."""

    def __init__(self, port, idle, slow, trickle_s=2.0):
        super().__init__(daemon=True)
        self.port, self.trickle_s = port, trickle_s
        # Slowloris first: against a serial server it is the one served.
        self.want = {"slow": slow, "idle": idle}
        self.sel = selectors.DefaultSelector()
        self.running = threading.Event()
        self.running.set()
        self.lock = threading.Lock()
        self.open = {"idle": 0, "slow": 0}
        self.dropped = {"idle": 0, "slow": 0}
        self.held = {"idle": [], "slow": []}
        self.answers = {}
        self.connect_errors = 0
        self.retry = []  # (when, kind)

    def connect(self, kind):
        s = socket.socket()
        s.setblocking(False)
        err = s.connect_ex(("127.0.0.1", self.port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            self.connect_errors += 1
            self.retry.append((time.monotonic() + 0.5, kind))
            return
        st = {"kind": kind, "connected": False, "at": time.monotonic(), "last": 0.0}
        self.sel.register(s, selectors.EVENT_WRITE, st)

    def dropped_by_server(self, s, st, answer=None):
        kind = st["kind"]
        now = time.monotonic()
        self.sel.unregister(s)
        s.close()
        with self.lock:
            if st["connected"]:
                self.open[kind] -= 1
                self.dropped[kind] += 1
                self.held[kind].append(now - st["at"])
            else:
                self.connect_errors += 1
            if answer:
                self.answers[answer] = self.answers.get(answer, 0) + 1
        if self.running.is_set():
            # Do not spin when the server drops at once (over its cap).
            delay = 0.0 if now - st["at"] > 1.0 else 0.5
            self.retry.append((now + delay, kind))

    def run(self):
        for kind, n in self.want.items():
            for _ in range(n):
                self.connect(kind)
        while self.running.is_set():
            now = time.monotonic()
            due = [k for (t, k) in self.retry if t <= now]
            self.retry = [(t, k) for (t, k) in self.retry if t > now]
            for k in due:
                self.connect(k)
            for key, ev in self.sel.select(timeout=0.1):
                s, st = key.fileobj, key.data
                if not st["connected"]:
                    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                        self.dropped_by_server(s, st)
                        continue
                    st["connected"], st["at"] = True, time.monotonic()
                    with self.lock:
                        self.open[st["kind"]] += 1
                    if st["kind"] == "slow":
                        try:
                            s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                        except OSError:
                            self.dropped_by_server(s, st)
                            continue
                        st["last"] = time.monotonic()
                    self.sel.modify(s, selectors.EVENT_READ, st)
                    continue
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    self.dropped_by_server(s, st)
                else:
                    answer = data.split(b"\r\n", 1)[0].decode("latin-1")[:40]
                    self.dropped_by_server(s, st, answer)
            now = time.monotonic()
            for key in list(self.sel.get_map().values()):
                s, st = key.fileobj, key.data
                if st["kind"] == "slow" and st["connected"] and now - st["last"] >= self.trickle_s:
                    try:
                        s.send(b"x")
                        st["last"] = now
                    except OSError:
                        self.dropped_by_server(s, st)

    def stop(self):
        self.running.clear()
        self.join(5)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()


class BigHeaderLoop(threading.Thread):
    """1 MiB headers, one after the other, while the attack lasts."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.running = threading.Event()
        self.running.set()
        self.outcomes = {}

    def run(self):
        while self.running.is_set():
            _, outcome = big_header(self.port, timeout=3.0)
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            time.sleep(0.05)

    def stop(self):
        self.running.clear()
        self.join(10)


def overflow(port, n, wait_s=1.0):
    """`n` more connections: how many the server answers or closes within
    `wait_s` (over its cap it must not keep them waiting)."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    answered, closed = 0, 0
    end = time.monotonic() + wait_s
    pending = set(socks)
    while pending and time.monotonic() < end:
        for key, _ in sel.select(timeout=max(0.0, end - time.monotonic())):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if data.startswith(b"HTTP/1.1 503"):
                answered += 1
            else:
                closed += 1
            sel.unregister(s)
            pending.discard(s)
    for s in socks:
        s.close()
    return answered, closed


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        new = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", default=os.environ.get("REGWATCH_BIN", "target/debug/regwatch"))
    p.add_argument("--idle", type=int, default=1000)
    p.add_argument("--slowloris", type=int, default=16)
    p.add_argument("--overflow", type=int, default=100)
    p.add_argument("--duration", type=float, default=8.0, help="seconds of scrapes under attack")
    p.add_argument("--scrape-timeout", type=float, default=2.0)
    p.add_argument("--scrape-bound-ms", type=float, default=100.0)
    p.add_argument("--rss-bound-mb", type=float, default=64.0)
    p.add_argument("--rss-cap-mb", type=float, default=500.0,
                   help="stop the flood when the process passes this")
    p.add_argument("--flood-max-mb", type=float, default=1024.0)
    p.add_argument("--term-bound-s", type=float, default=1.0)
    a = p.parse_args()

    nofile = raise_nofile(a.idle + a.slowloris + a.overflow + 512)
    if nofile < a.idle + a.slowloris + a.overflow + 64:
        print(f"hostile-metrics: the open-file limit is {nofile}; "
              f"{a.idle + a.slowloris + a.overflow} clients need more", file=sys.stderr)
        return 2
    if not os.access(a.bin, os.X_OK):
        print(f"hostile-metrics: {a.bin}: not an executable (build it, or give --bin)",
              file=sys.stderr)
        return 2

    tmp = tempfile.mkdtemp(prefix="regwatch-hostile-metrics-")
    config = os.path.join(tmp, "trunks.toml")
    with open(config, "w") as f:
        f.write(
            '[[trunk]]\nname = "office"\ndomain = "pbx.example.net"\nusername = "office"\n'
            f'password = "Hostile-Metrics-1"\nproxy = "127.0.0.1:{free_port()}"\n'
            'transport = "udp"\n'
        )
    port = free_port()
    log = open(os.path.join(tmp, "watch.log"), "w+")
    child = subprocess.Popen(
        [a.bin, "watch", "--config", config, "--metrics", f"127.0.0.1:{port}",
         "--interval", "30"],
        stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, NO_COLOR="1"),
    )
    figures, violations = [], []

    def fig(name, value, bound="", ok=True):
        figures.append((name, value, bound, "ok" if ok else "VIOLATED"))
        if not ok:
            violations.append(name)

    attack = bigs = None
    try:
        # Ready when a scrape answers.
        end = time.monotonic() + 30
        while True:
            dt, outcome = scrape(port, 2.0)
            if outcome == "200":
                break
            if child.poll() is not None or time.monotonic() > end:
                log.seek(0)
                print(f"hostile-metrics: the endpoint never answered ({outcome}); "
                      f"watch said:\n{log.read()}", file=sys.stderr)
                return 2
            time.sleep(0.1)
        for _ in range(20):
            scrape(port, 2.0)
        base = rss_kib(child.pid)
        mon = RssMonitor(child.pid, base + a.rss_cap_mb * 1024)
        mon.start()
        fig("baseline RSS", f"{base / 1024:.1f} MB")

        # 1. Endless header without a newline.
        t0 = time.monotonic()
        sent, outcome = header_flood(port, mon, a.flood_max_mb * MIB, 60)
        fig("header flood: bytes sent until dropped", f"{sent / 1024:.0f} KiB in "
            f"{(time.monotonic() - t0) * 1000:.0f} ms ({outcome}); peak RSS +"
            f"{(mon.peak - base) / 1024:.1f} MB", "dropped",
            outcome == "dropped by the server")
        if mon.over_cap.is_set():
            # Let the old serial server notice the close before going on.
            time.sleep(2)

        # 2. One 1 MiB header.
        t0 = time.monotonic()
        sent, outcome = big_header(port)
        fig("1 MiB header", f"{outcome} after {sent / 1024:.0f} KiB sent, "
            f"{(time.monotonic() - t0) * 1000:.0f} ms", "431 or closed",
            outcome in ("431", "closed"))

        # 3. Held attack, scrapes under it.
        attack = Attack(port, a.idle, a.slowloris)
        attack.start()
        bigs = BigHeaderLoop(port)
        bigs.start()
        end = time.monotonic() + 10
        while time.monotonic() < end and (
                attack.open["idle"] < a.idle or attack.open["slow"] < a.slowloris):
            time.sleep(0.05)
        time.sleep(0.5)
        fig("attackers connected before scraping",
            f"idle {attack.open['idle']}/{a.idle}, slowloris "
            f"{attack.open['slow']}/{a.slowloris}")
        times, bad = [], {}
        t_end = time.monotonic() + a.duration
        while time.monotonic() < t_end:
            dt, outcome = scrape(port, a.scrape_timeout)
            if outcome == "200":
                times.append(dt)
            else:
                bad[outcome] = bad.get(outcome, 0) + 1
                if sum(bad.values()) >= 5:
                    break
            time.sleep(0.1)
        n = len(times) + sum(bad.values())
        if times:
            ms = sorted(t * 1000 for t in times)
            slowest = ms[-1]
            fig("scrapes under attack (min/median/max)",
                f"{ms[0]:.1f} / {statistics.median(ms):.1f} / {slowest:.1f} ms "
                f"({len(times)} of {n} answered)",
                f"< {a.scrape_bound_ms:.0f} ms each",
                not bad and slowest < a.scrape_bound_ms)
        else:
            fig("scrapes under attack", "none answered", f"< {a.scrape_bound_ms:.0f} ms", False)
        if bad:
            fig("failed scrapes", ", ".join(f"{k}: {v}" for k, v in bad.items()), "none", False)
        with attack.lock:
            for kind, word in (("idle", "idle"), ("slow", "slowloris")):
                held = attack.held[kind]
                fig(f"{word} connections dropped by the server",
                    f"{attack.dropped[kind]}" + (
                        f", held {min(held):.1f}-{max(held):.1f} s" if held else ""))
        fig("1 MiB header clients during the attack",
            ", ".join(f"{k}: {v}" for k, v in sorted(bigs.outcomes.items())) or "none")

        # 4. Over the connection cap.
        answered, closed = overflow(port, a.overflow)
        fig(f"{a.overflow} more connections (over the cap)",
            f"{answered} answered 503, {closed} closed within 1 s")

        # 5. SIGTERM with the attackers still holding.
        with attack.lock:
            holding = attack.open["idle"] + attack.open["slow"]
        t0 = time.monotonic()
        child.send_signal(signal.SIGTERM)
        try:
            code = child.wait(timeout=30)
            dt = time.monotonic() - t0
            fig("SIGTERM to exit", f"{dt * 1000:.0f} ms (exit {code}, "
                f"{holding} attacker connections held)",
                f"< {a.term_bound_s:.0f} s", dt < a.term_bound_s and code == 0)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            fig("SIGTERM to exit", "over 30 s (killed)", f"< {a.term_bound_s:.0f} s", False)
        mon.done.set()
        growth = (mon.peak - base) / 1024
        fig("RSS growth (peak - baseline)", f"{growth:.1f} MB (peak {mon.peak / 1024:.1f} MB)",
            f"< {a.rss_bound_mb:.0f} MB", growth < a.rss_bound_mb)
    finally:
        for t in (attack, bigs):
            if t is not None:
                t.stop()
        if child.poll() is None:
            child.kill()
            child.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)

    w = max(len(f[0]) for f in figures)
    v = max(len(f[1]) for f in figures)
    print(f"hostile-metrics: {a.bin}")
    for name, value, bound, verdict in figures:
        print(f"  {name:<{w}}  {value:<{v}}  {bound:<14} {verdict if bound else ''}".rstrip())
    if violations:
        print(f"hostile-metrics: {len(violations)} bound(s) violated: " + "; ".join(violations))
        return 1
    print("hostile-metrics: every bound held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
