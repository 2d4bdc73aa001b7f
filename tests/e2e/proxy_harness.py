#!/usr/bin/python3
"""A forward HTTP proxy on 127.0.0.1 for the end-to-end tests, written from RFC 9110/9112:
CONNECT opens a tunnel (what a client does for an https:// target), an absolute-form request
(`GET http://host:port/path HTTP/1.1`) is forwarded and answered once, then the connection
closes. It records every request line and the Proxy-Authorization it was given.
"""

import select
import socket
import socketserver
import threading
import urllib.parse


def _relay(a, b):
    """Copies bytes both ways until either side closes."""
    socks = [a, b]
    while True:
        ready, _, _ = select.select(socks, [], [], 30)
        if not ready:
            return
        for s in ready:
            data = s.recv(65536)
            if not data:
                return
            (b if s is a else a).sendall(data)


class ForwardProxy:
    def __init__(self, require_auth=None):
        """`require_auth`: a Proxy-Authorization value to insist on (407 otherwise)."""
        self.seen = []  # (method, target, proxy_authorization or None)
        self._lock = threading.Lock()
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                line = self.rfile.readline(65536).decode("latin-1").rstrip("\r\n")
                if not line:
                    return
                headers = []
                while True:
                    h = self.rfile.readline(65536).decode("latin-1")
                    if h in ("\r\n", "\n", ""):
                        break
                    headers.append(h.rstrip("\r\n"))
                fields = {}
                for h in headers:
                    k, _, v = h.partition(":")
                    fields[k.strip().lower()] = v.strip()
                method, target, _ = line.split(" ", 2)
                auth = fields.get("proxy-authorization")
                with outer._lock:
                    outer.seen.append((method, target, auth))
                if require_auth is not None and auth != require_auth:
                    self.wfile.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                                     b"Proxy-Authenticate: Basic realm=\"test\"\r\n"
                                     b"Content-Length: 0\r\nConnection: close\r\n\r\n")
                    return
                if method == "CONNECT":
                    host, _, port = target.rpartition(":")
                    up = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
                    self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    self.wfile.flush()
                    try:
                        _relay(self.connection, up)
                    finally:
                        up.close()
                    return
                u = urllib.parse.urlsplit(target)
                if u.scheme != "http":
                    self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    return
                body = self.rfile.read(int(fields.get("content-length", "0")))
                path = u.path or "/"
                if u.query:
                    path += "?" + u.query
                out = ["%s %s HTTP/1.1" % (method, path)]
                out += [h for h in headers
                        if h.split(":", 1)[0].strip().lower() not in
                        ("proxy-authorization", "connection", "proxy-connection")]
                out.append("Connection: close")
                up = socket.create_connection((u.hostname, u.port or 80), timeout=30)
                try:
                    up.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body)
                    while True:
                        data = up.recv(65536)
                        if not data:
                            break
                        self.wfile.write(data)
                finally:
                    up.close()

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def requests(self):
        with self._lock:
            return list(self.seen)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
