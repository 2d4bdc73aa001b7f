#!/usr/bin/python3
"""coco-kbs and its clients under attack, on loopback: each attack found by a red-team pass is
run against a real broker, then a legitimate flow must succeed (during the attack where it lasts)
and the broker must still be up.

Env: COCO_KBS (coco-kbs binary), COCO_CLI (coco binary).
"""

import http.client
import http.server
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kbs_harness as h  # noqa: E402
from kbs_harness import check, expect_error, info  # noqa: E402

RES = "attack/key/secret"
SECRET = b"the real secret"
HEADER_TIMEOUT = 3


def legit_flow(b, gap=0.0):
    c = h.RcarClient(b.url)
    c.auth()
    if gap:
        time.sleep(gap)
    c.attest()
    return c.get_resource(RES) == SECRET


def alive(b):
    return b.proc.poll() is None and h.http_request(b.url, "GET", "/healthz").status == 200


def deep(n):
    return "[" * n + "]" * n


def raw_post(b, path, text, cookie=None):
    headers = {"Content-Type": "application/json"}
    if cookie:
        headers["Cookie"] = cookie
    return h.http_request(b.url, "POST", path, text.encode(), headers)


def crash_attacks(b):
    # 1. 150,000 levels in primary_evidence, 500,000 in tee-pubkey (unauthenticated).
    for field, depth in (("primary_evidence", 150000), ("tee-pubkey", 500000)):
        c = h.RcarClient(b.url)
        c.auth()
        body = c.attestation_body()
        if field == "tee-pubkey":
            body["runtime-data"]["tee-pubkey"] = "@@"
        else:
            body["tee-evidence"]["primary_evidence"] = "@@"
        text = json.dumps(body).replace('"@@"', deep(depth))
        r = raw_post(b, "/kbs/v0/attest", text, "kbs-session-id=" + c.cookie)
        expect_error(r, 401, "SerdeError", "%s nested %d deep is refused" % (field, depth),
                     detail_contains=("nests deeper than 64",))
        check(alive(b), "the broker is still up after the deep %s" % field)
    # 2. init-data with a dotted key of 20,000 parts (40 KB).
    c = h.RcarClient(b.url)
    c.auth()
    body = c.attestation_body()
    body["init-data"] = {"format": "toml", "body": 'algorithm = "sha384"\nversion = "0.1.0"\n' +
                         ".".join(["k"] * 20000) + " = 1\n"}
    r = raw_post(b, "/kbs/v0/attest", json.dumps(body), "kbs-session-id=" + c.cookie)
    expect_error(r, 401, "AttestationError", "init-data with a 20,000-part dotted key is refused",
                 detail_contains=("more than 32 parts",))
    # 3. An admin reference value nested 60,000 and 120,000 deep.
    for depth in (60000, 120000):
        payload = '{"launch_digest":%s}' % deep(depth)
        msg = {"version": "0.1.0", "type": "sample", "payload": h.b64std(payload)}
        r = b.admin("POST", "/kbs/v0/reference-value", msg)
        expect_error(r, 401, "RvpsError", "a reference value nested %d deep is refused" % depth)
    check(alive(b) and legit_flow(b), "after the crash attacks a legitimate flow succeeds")


def slowloris(b):
    # 4. 200 connections that trickle one header line a second (the old server gave each a thread
    # and restarted its timeout with every byte).
    socks = []
    for _ in range(200):
        s = socket.create_connection(("127.0.0.1", b.port))
        s.sendall(b"POST /kbs/v0/auth HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    stop = threading.Event()

    def trickle():
        i = 0
        while not stop.is_set():
            for s in socks:
                try:
                    s.sendall(b"X-Slow-%d: y\r\n" % i)
                except OSError:
                    pass
            i += 1
            stop.wait(1.0)

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    start = time.time()
    good = 0
    try:
        for _ in range(16):
            good += legit_flow(b)
        elapsed = time.time() - start
        check(good == 16, "16 legitimate flows succeed while 200 connections trickle headers "
                          "(%.2f s)" % elapsed)
        # The trickling connections are cut when their header deadline passes.
        time.sleep(HEADER_TIMEOUT + 2)
        closed = 0
        for s in socks:
            s.settimeout(2)
            try:
                s.sendall(b"X-More: y\r\n")
                closed += s.recv(1) == b""
            except OSError:
                closed += 1
        check(closed == 200, "all 200 trickling connections were closed at the %d s header "
                             "deadline (closed: %d)" % (HEADER_TIMEOUT, closed))
    finally:
        stop.set()
        t.join()
        for s in socks:
            s.close()
    metrics = h.http_request(b.url, "GET", "/metrics").text()
    line = [l for l in metrics.splitlines() if 'reason="header_timeout"' in l]
    check(line and int(float(line[0].split()[-1])) >= 200,
          "kbs_http_refused_total counts the header timeouts", line)


def auth_flood(b):
    # 5. /auth flooded while guests take 2 s between /auth and /attest.
    stop = threading.Event()
    counts = [0]

    def flood():
        conn = None
        body = json.dumps({"version": "0.4.0", "tee": "sample", "extra-params": ""}).encode()
        while not stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=5)
                conn.request("POST", "/kbs/v0/auth", body, {"Content-Type": "application/json"})
                conn.getresponse().read()
                counts[0] += 1
            except OSError:
                conn = None

    threads = [threading.Thread(target=flood, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        results = []
        guests = [threading.Thread(target=lambda: results.append(legit_flow(b, gap=2.0)))
                  for _ in range(8)]
        for g in guests:
            g.start()
        for g in guests:
            g.join()
    finally:
        stop.set()
        for t in threads:
            t.join()
    check(results.count(True) == 8, "8 of 8 guests with a 2 s gap succeed during an /auth flood "
                                    "of %d requests" % counts[0])


def upload_forms(b):
    # 6. curl -F (multipart) must not replace the secret with nothing.
    path = os.path.join(b.data_dir, "new-secret.bin")
    with open(path, "wb") as f:
        f.write(b"replacement")
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                        "-H", "Authorization: Bearer " + b.admin_token,
                        "-F", "file=@" + path, b.url + "/kbs/v0/resource/" + RES],
                       capture_output=True, timeout=30)
    check(r.stdout == b"415", "curl -F to the resource endpoint answers 415", r.stdout)
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                        "-H", "Authorization: Bearer " + b.admin_token,
                        "-H", "Content-Type: application/octet-stream",
                        "--data-binary", "@" + path, b.url + "/kbs/v0/resource/attack/key/other"],
                       capture_output=True, timeout=30)
    check(r.stdout == b"200", "curl --data-binary stores a resource", r.stdout)
    check(legit_flow(b), "the secret is unchanged after the multipart attempt")


def log_injection(b):
    # 7. A %0a in the path must not write a forged line into the text log.
    forged = "2026-01-01T00:00:00.000Z info admin request accepted role=admin"
    path = "/kbs/v0/resource/a%0a" + urllib.parse.quote(forged)
    h.http_request(b.url, "GET", path)
    time.sleep(0.2)
    with open(b.log_path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    check(not any(l.startswith(forged) for l in lines), "no forged line in the text log")
    check(any("\\n2026-01-01" in l for l in lines), "the newline is written escaped")


def client_limits(b):
    # 9. A broker that answers with an endless body: coco attest stops at its limit.
    class Endless(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"A" * 65536
            try:
                while True:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                pass

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        r = h.run_cli(["attest", "--kbs", "http://127.0.0.1:%d" % srv.server_address[1]],
                      timeout=60)
        rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        check(r.returncode != 0 and b"more than" in r.stderr,
              "coco attest refuses an endless broker answer", h.describe_run(r))
        check(rss_mib < 200 or before / 1024 >= 200,
              "and stays small doing so (children's peak RSS %.0f MiB)" % rss_mib)
    finally:
        srv.shutdown()
    r = h.run_cli(["keyprovider"], input_bytes=b"{" * (3 << 20))
    check(r.returncode != 0 and b"over 1048576 bytes" in r.stderr,
          "coco keyprovider refuses 3 MiB on stdin", h.describe_run(r))


def connection_limits():
    # Per-client connection cap: the connections above it get 503 + Retry-After at once.
    cfg_dir = h.make_tmpdir("coco-kbs-limits-")
    cfg = os.path.join(cfg_dir, "kbs.toml")
    with open(cfg, "w") as f:
        f.write("[limits]\nmax_connections_per_client = 20\n")
    b = h.Broker(extra_args=["--config", cfg], name="limits").init().start()
    socks = [socket.create_connection(("127.0.0.1", b.port)) for _ in range(20)]
    try:
        time.sleep(0.2)
        s = socket.create_connection(("127.0.0.1", b.port))
        s.settimeout(5)
        answer = s.recv(4096)
        s.close()
        check(answer.startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in answer and
              b"max_connections_per_client 20" in answer,
              "the 21st connection from one address gets 503 with Retry-After", answer[:200])
    finally:
        for s in socks:
            s.close()
    time.sleep(0.2)
    check(h.http_request(b.url, "GET", "/healthz").status == 200,
          "once the connections close, the client is served again")
    b.stop()


def dev_token_after_restart(b):
    # 8. A token from a --dev run is refused once the broker runs without --dev.
    c = h.RcarClient(b.url)
    token = c.full_attest()
    b.stop()
    b.dev = False
    b.start()
    r = h.http_request(b.url, "GET", "/kbs/v0/resource/" + RES,
                       headers={"Authorization": "Bearer " + token})
    expect_error(r, 401, "TokenVerifierError", "a --dev token is refused after a restart "
                 "without --dev", detail_contains=("--dev",))


def main():
    b = h.Broker(extra_args=["--header-timeout", str(HEADER_TIMEOUT)]).init().start()
    b.register_reference_values(h.SAMPLE_REFERENCE_VALUES)
    b.set_resource(RES, SECRET)
    crash_attacks(b)
    slowloris(b)
    auth_flood(b)
    upload_forms(b)
    log_injection(b)
    client_limits(b)
    connection_limits()
    dev_token_after_restart(b)
    info("broker log: %s" % b.log_path)


if __name__ == "__main__":
    h.run_main(main)
