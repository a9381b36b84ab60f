#!/usr/bin/python3
"""Test double of a kube-apiserver (the real one cannot be had here): HTTPS on ADDR:PORT,
/healthz answers 200 "ok" (500 while STATE_DIR/unhealthy exists), every other path answers with
the server's NAME so a client can tell which master it reached, and /seal-double/ca.crt gives the
host's cluster CA, which a joining control plane takes (as real kubeadm downloads it from the
cluster). HTTP/1.1 keep-alive like the real one."""
import os
import socket
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

name, addr, port, cert, key, state = sys.argv[1:7]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.split("?")[0] == "/healthz":
            bad = os.path.exists(os.path.join(state, "unhealthy"))
            code, body = (500, b"unhealthy\n") if bad else (200, b"ok")
        elif self.path == "/seal-double/ca.crt":
            with open("/etc/kubernetes/pki/ca.crt", "rb") as f:
                code, body = 200, f.read()
        else:
            code, body = 200, (name + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = Server((addr, int(port)), Handler)
# Handshake in the handler thread, so one stuck client never blocks accept().
srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
open(os.path.join(state, "listening"), "w").close()
srv.serve_forever()
