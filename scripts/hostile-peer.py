#!/usr/bin/env python3
"""A hostile SIP peer for tests: what a broken registrar, a man on the path
of plain TCP or an attacker can send to regwatch. Python 3 standard
library only; loopback only.

    hostile-peer.py --cert CERT.pem --key KEY.pem

Listens on 127.0.0.1, one port per (transport, mode), prints one line per
listener, `<transport> <mode> <port>`, then `ready`, and serves until it
is killed, its parent process ends, or --max-seconds (600) pass.

Modes over TCP and TLS (TLS: after a completed handshake, with the given
certificate):
  stream      an endless stream of bytes without a line break, as fast as
              the client reads
  crs         an endless stream of `\\r`
  trickle     the start of a response (`SIP/2.0 200 OK ...`), then one byte
              per second, never finished
  big-header  a response whose header section is 1 MB long
  silent      accepts, never answers, never closes
  garbage     2 KiB of binary bytes ended by a blank line (frames like a
              message, is not SIP), then silence
TLS only:
  handshake-trickle  accepts TCP, then sends TLS handshake bytes one per
              second and never finishes the handshake
UDP:
  stream      a flood of datagrams back to whoever sends one (about
              12,000 a second, for as long as that sender keeps sending,
              plus 5 s)
  garbage     three datagrams of binary bytes for each one received
  silent      reads, never answers
"""
import argparse
import os
import socket
import ssl
import threading
import time

TCP_MODES = ["stream", "crs", "trickle", "big-header", "silent", "garbage"]
TLS_MODES = TCP_MODES + ["handshake-trickle"]
UDP_MODES = ["stream", "garbage", "silent"]


def hold(sock):
    """Keeps the connection open, reading and dropping what comes, until
    the client closes it."""
    try:
        sock.settimeout(None)
        while sock.recv(65536):
            pass
    except (OSError, ValueError):
        pass


def not_sip(n):
    """n bytes with no CR or LF: binary noise."""
    out = bytearray()
    while len(out) < n:
        out.extend(b for b in os.urandom(n) if b not in (10, 13))
    return bytes(out[:n])


def serve_stream(sock, mode, tls):
    try:
        if mode == "handshake-trickle":
            # A TLS record header for a handshake message, then its "body",
            # one byte a second: the client waits for a ServerHello that
            # never completes.
            record = bytes([0x16, 0x03, 0x03, 0x40, 0x00, 0x02, 0x00, 0x3F, 0xFC])
            record += os.urandom(4096)
            for b in record:
                sock.sendall(bytes([b]))
                time.sleep(1)
            hold(sock)
            return
        if tls is not None:
            sock.settimeout(10)
            sock = tls.wrap_socket(sock, server_side=True)
            sock.settimeout(None)
        if mode == "stream":
            chunk = b"A" * 65536
            while True:
                sock.sendall(chunk)
        elif mode == "crs":
            chunk = b"\r" * 65536
            while True:
                sock.sendall(chunk)
        elif mode == "trickle":
            head = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK-"
            for b in head:
                sock.sendall(bytes([b]))
                time.sleep(1)
            while True:
                sock.sendall(b"x")
                time.sleep(1)
        elif mode == "big-header":
            sock.sendall(
                b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK-x\r\nX-Big: "
                + b"a" * (1 << 20)
                + b"\r\nContent-Length: 0\r\n\r\n"
            )
            hold(sock)
        elif mode == "silent":
            hold(sock)
        elif mode == "garbage":
            sock.sendall(not_sip(2048) + b"\r\n\r\n")
            hold(sock)
    except (OSError, ValueError):
        pass
    finally:
        try:
            sock.close()
        except OSError:
            pass


def listen_stream(mode, tls):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)

    def accept():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            ctx = None if mode == "handshake-trickle" else tls
            threading.Thread(target=serve_stream, args=(c, mode, ctx), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return srv.getsockname()[1]


def listen_udp(mode):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    last_seen = {}
    lock = threading.Lock()

    def flood(addr):
        dgram = b"A" * 1400
        while True:
            with lock:
                if time.monotonic() - last_seen[addr] > 5:
                    del last_seen[addr]
                    return
            try:
                for _ in range(64):
                    s.sendto(dgram, addr)
            except OSError:
                pass
            time.sleep(0.005)

    def serve():
        while True:
            try:
                _, addr = s.recvfrom(65536)
            except OSError:
                return
            if mode == "stream":
                with lock:
                    new = addr not in last_seen
                    last_seen[addr] = time.monotonic()
                if new:
                    threading.Thread(target=flood, args=(addr,), daemon=True).start()
            elif mode == "garbage":
                for _ in range(3):
                    try:
                        s.sendto(not_sip(1200), addr)
                    except OSError:
                        pass

    threading.Thread(target=serve, daemon=True).start()
    return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--max-seconds", type=float, default=600)
    a = ap.parse_args()
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(a.cert, a.key)
    lines = []
    for m in TCP_MODES:
        lines.append(f"tcp {m} {listen_stream(m, None)}")
    for m in TLS_MODES:
        lines.append(f"tls {m} {listen_stream(m, tls)}")
    for m in UDP_MODES:
        lines.append(f"udp {m} {listen_udp(m)}")
    print("\n".join(lines + ["ready"]), flush=True)
    # Until killed, or until whoever started it is gone (a test script
    # that died must not leave a flooding peer behind).
    parent, end = os.getppid(), time.monotonic() + a.max_seconds
    while os.getppid() == parent and time.monotonic() < end:
        time.sleep(0.5)


if __name__ == "__main__":
    main()
