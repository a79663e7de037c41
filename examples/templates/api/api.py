"""prewarm's sample API workload: JSON over HTTP on a socket handed over as fd 3.

GET /healthz        -> {"ok": true}
GET /api/time       -> {"unix": <seconds>, "instance": <hostname>}
GET /api/echo?x=... -> the query string parameters back
"""
import json
import os
import socket
import socketserver
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse


class Handler(BaseHTTPRequestHandler):
    server_version = "prewarm-api/1"

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/healthz":
            self._send(200, {"ok": True})
        elif url.path == "/api/time":
            self._send(200, {"unix": time.time(), "instance": socket.gethostname()})
        elif url.path == "/api/echo":
            self._send(200, {k: v for k, v in parse_qs(url.query).items()})
        else:
            self._send(404, {"error": "not found", "path": url.path})

    def log_message(self, fmt, *args):  # quiet: one line per request is too much at the edge
        pass


class ActivatedServer(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True

    def __init__(self, fd):
        HTTPServer.__init__(self, None, Handler, bind_and_activate=False)
        self.socket = socket.socket(fileno=fd)
        self.server_address = self.socket.getsockname()


def main():
    if os.environ.get("LISTEN_FDS") != "1" or os.environ.get("LISTEN_PID") != str(os.getpid()):
        raise SystemExit("api.py: expects one socket-activated listener on fd 3 (LISTEN_FDS=1)")
    ActivatedServer(3).serve_forever()


if __name__ == "__main__":
    main()
