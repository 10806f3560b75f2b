#!/usr/bin/env python3
"""A minimal FreeSWITCH event-socket client for the end-to-end tests.

  esl.py listen OUT.jsonl   every regwatch::* and sofia::gateway_* event,
                            one JSON object per line, with the receive time
                            (the first line, {"_ready": true}, says the
                            subscription is in place)
"""
import json
import socket
import sys
import time
import urllib.parse

HOST, PORT, PASSWORD = "127.0.0.1", 8021, "ClueCon"


def read_block(f):
    headers = {}
    while True:
        line = f.readline()
        if not line:
            return None
        line = line.decode("utf-8", "replace").rstrip("\n")
        if line == "":
            if headers:
                break
            continue
        if ": " in line:
            k, v = line.split(": ", 1)
            headers[k] = v
    body = b""
    if "Content-Length" in headers:
        n = int(headers["Content-Length"])
        while len(body) < n:
            chunk = f.read(n - len(body))
            if not chunk:
                break
            body += chunk
    return headers, body.decode("utf-8", "replace")


def main():
    if len(sys.argv) != 3 or sys.argv[1] != "listen":
        sys.exit(__doc__)
    for _ in range(150):
        try:
            s = socket.create_connection((HOST, PORT), timeout=5)
            break
        except OSError:
            time.sleep(0.2)
    else:
        sys.exit("esl.py: no event socket on %s:%d" % (HOST, PORT))
    s.settimeout(None)
    f = s.makefile("rb")
    read_block(f)  # auth/request
    s.sendall(("auth %s\n\n" % PASSWORD).encode())
    read_block(f)
    s.sendall(b"event plain CUSTOM regwatch::state regwatch::alert sofia::gateway_state "
              b"sofia::gateway_add sofia::gateway_delete\n\n")
    read_block(f)
    with open(sys.argv[2], "a", buffering=1) as out:
        out.write(json.dumps({"_ready": True, "_mono": time.monotonic()}) + "\n")
        while True:
            block = read_block(f)
            if block is None:
                return
            headers, body = block
            if headers.get("Content-Type") != "text/event-plain":
                continue
            ev = {}
            for line in body.split("\n"):
                if ": " in line:
                    k, v = line.split(": ", 1)
                    ev[k] = urllib.parse.unquote(v)
            ev["_mono"] = time.monotonic()
            out.write(json.dumps(ev) + "\n")


if __name__ == "__main__":
    main()
