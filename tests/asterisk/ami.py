#!/usr/bin/env python3
"""A minimal Asterisk Manager Interface client for the end-to-end tests.

  ami.py listen OUT.jsonl      every event, one JSON object per line, with
                               the receive time (monotonic and wall clock)
  ami.py action NAME [K=V...]  sends one action, prints every message of the
                               answer (events of a list included) as JSON
"""
import json
import socket
import sys
import time

HOST, PORT = "127.0.0.1", 5038
USER, SECRET = "regwatch", "e2e-manager-secret"


def messages(sock):
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                return
            buf += chunk
        block, buf = buf.split(b"\r\n\r\n", 1)
        msg = {}
        for line in block.decode("utf-8", "replace").split("\r\n"):
            if ": " in line:
                k, v = line.split(": ", 1)
                msg[k] = v
        if msg:
            yield msg


def connect():
    for _ in range(100):
        try:
            s = socket.create_connection((HOST, PORT), timeout=5)
            break
        except OSError:
            time.sleep(0.2)
    else:
        sys.exit("ami.py: no AMI on %s:%d" % (HOST, PORT))
    s.recv(1024)  # the banner line
    s.sendall(("Action: Login\r\nUsername: %s\r\nSecret: %s\r\nEvents: on\r\n\r\n" % (USER, SECRET)).encode())
    return s


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "listen":
        s = connect()
        s.settimeout(None)
        with open(sys.argv[2], "a", buffering=1) as out:
            for m in messages(s):
                m["_mono"] = time.monotonic()
                m["_wall"] = time.time()
                out.write(json.dumps(m) + "\n")
    elif len(sys.argv) >= 3 and sys.argv[1] == "action":
        s = connect()
        s.settimeout(20)
        fields = "".join("%s: %s\r\n" % tuple(a.split("=", 1)) for a in sys.argv[3:])
        s.sendall(("Action: %s\r\nActionID: e2e-1\r\n%s\r\n" % (sys.argv[2], fields)).encode())
        listing = False
        for m in messages(s):
            if m.get("ActionID") != "e2e-1":
                continue
            print(json.dumps(m))
            if m.get("EventList") == "start":
                listing = True
            elif m.get("EventList") == "Complete" or not listing:
                break
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
