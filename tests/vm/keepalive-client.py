#!/usr/bin/python3
"""A node process holding ONE kept-alive HTTPS connection through the VIP, as kubelet holds its
watch: a GET every INTERVAL seconds on the same connection, checked against the test CA, with a
TIMEOUT-second limit on each request (like a client's own request timeout). On an error it closes
the connection and reconnects at once. One line per event to stdout:
  EPOCH connected LOCALPORT    (a new connection, TLS handshake done)
  EPOCH ok NAME LOCALPORT      (an answer: the answering master's name, the socket's local port)
  EPOCH err KIND ERRNO LOCALPORT
Runs until STOPFILE exists."""
import http.client
import os
import ssl
import sys
import time

url_host, port, ca, interval, timeout, stopfile = sys.argv[1:7]
interval, timeout = float(interval), float(timeout)
ctx = ssl.create_default_context(cafile=ca)


def log(*words):
    print("%.3f" % time.time(), *words, flush=True)


conn = None
lport = 0
while not os.path.exists(stopfile):
    try:
        if conn is None:
            conn = http.client.HTTPSConnection(url_host, int(port), context=ctx, timeout=timeout)
            conn.connect()
            lport = conn.sock.getsockname()[1]
            log("connected", lport)
        conn.request("GET", "/who")
        body = conn.getresponse().read().decode().strip()
        log("ok", body, lport)
    except Exception as e:  # any failure: report it, start a new connection
        log("err", type(e).__name__, getattr(e, "errno", None) or 0, lport)
        try:
            conn.close()
        except Exception:
            pass
        conn = None
    time.sleep(interval)
