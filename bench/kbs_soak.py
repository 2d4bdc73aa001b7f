#!/usr/bin/python3
"""Soak: legitimate RCAR flows while the broker is under attack, against a quiet baseline measured
in the same run.

Phase 1 (baseline): CLIENTS guests each run FLOWS full flows (auth, a GAP-second pause standing
for a real TEE's evidence, attest, resource) against an idle coco-kbs.
Phase 2 (attack): the same, while FLOODERS threads send /auth as fast as they can and SLOW
connections trickle one header line a second (each reopened when the broker cuts it).

Prints per phase: legitimate-flow success rate, p50/p99 flow latency (minus the gap), and the
broker's RSS before and after; then the attack/baseline p99 ratio and the RSS growth.

  /usr/bin/python3 bench/kbs_soak.py --kbs build/bin/coco-kbs [--clients 16] [--flows 10]
      [--gap 2] [--slow 200] [--flooders 4]

Everything listens on and connects to 127.0.0.1.
"""

import argparse
import http.client
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))

import kbs_harness as h  # noqa: E402

RES = "soak/key/secret"
SECRET = b"soak secret"


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def run_guests(b, clients, flows, gap):
    ok = [0]
    failed = []
    latencies = []
    lock = threading.Lock()

    def guest():
        for _ in range(flows):
            start = time.time()
            try:
                c = h.RcarClient(b.url)
                c.auth()
                time.sleep(gap)
                c.attest()
                good = c.get_resource(RES) == SECRET
            except Exception as e:  # noqa: BLE001 - a failed flow is a measurement
                good = False
                with lock:
                    failed.append(str(e)[:200])
            with lock:
                if good:
                    ok[0] += 1
                    latencies.append(time.time() - start - gap)

    threads = [threading.Thread(target=guest) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ok[0], failed, latencies


class Attack:
    def __init__(self, port, flooders, slow):
        self.port = port
        self.stop = threading.Event()
        self.auth_requests = 0
        self.slow_reopened = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.flood, daemon=True) for _ in range(flooders)]
        self.threads.append(threading.Thread(target=self.trickle, args=(slow,), daemon=True))

    def start(self):
        for t in self.threads:
            t.start()

    def end(self):
        self.stop.set()
        for t in self.threads:
            t.join()

    def flood(self):
        body = json.dumps({"version": "0.4.0", "tee": "sample", "extra-params": ""}).encode()
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("POST", "/kbs/v0/auth", body, {"Content-Type": "application/json"})
                conn.getresponse().read()
                with self.lock:
                    self.auth_requests += 1
            except (OSError, http.client.HTTPException):
                conn = None

    def open_slow(self):
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(b"POST /kbs/v0/attest HTTP/1.1\r\nHost: x\r\n")
        return s

    def trickle(self, n):
        socks = [self.open_slow() for _ in range(n)]
        i = 0
        while not self.stop.wait(1.0):
            for k, s in enumerate(socks):
                try:
                    s.sendall(b"X-Slow-%d: y\r\n" % i)
                except OSError:
                    s.close()
                    try:
                        socks[k] = self.open_slow()
                        self.slow_reopened += 1
                    except OSError:
                        pass
            i += 1
        for s in socks:
            s.close()


def report(name, clients, flows, ok, failed, lat, rss_before, rss_after):
    total = clients * flows
    print("%-9s %4d/%-4d flows ok (%5.1f %%)  p50 %7.1f ms  p99 %7.1f ms  RSS %6.1f -> %6.1f MiB"
          % (name, ok, total, 100.0 * ok / total, 1000 * percentile(lat, 50),
             1000 * percentile(lat, 99), rss_before, rss_after), flush=True)
    for f in failed[:3]:
        print("          failure: %s" % f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kbs", default="build/bin/coco-kbs")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--flows", type=int, default=10, help="flows per client and phase")
    ap.add_argument("--gap", type=float, default=2.0, help="seconds between /auth and /attest")
    ap.add_argument("--slow", type=int, default=200, help="slow-trickle connections")
    ap.add_argument("--flooders", type=int, default=4, help="threads flooding /auth")
    a = ap.parse_args()
    os.environ["COCO_KBS"] = os.path.abspath(a.kbs)

    def body():
        b = h.Broker().init().start()
        b.register_reference_values(h.SAMPLE_REFERENCE_VALUES)
        b.set_resource(RES, SECRET)
        print("%d guests x %d flows per phase, %.1f s between /auth and /attest; attack: %d "
              "/auth flooders + %d slow connections" % (a.clients, a.flows, a.gap, a.flooders,
                                                       a.slow), flush=True)
        r0 = rss_mib(b.proc.pid)
        ok, failed, lat = run_guests(b, a.clients, a.flows, a.gap)
        r1 = rss_mib(b.proc.pid)
        report("baseline", a.clients, a.flows, ok, failed, lat, r0, r1)
        base_p99 = percentile(lat, 99)

        attack = Attack(b.port, a.flooders, a.slow)
        attack.start()
        t0 = time.time()
        ok2, failed2, lat2 = run_guests(b, a.clients, a.flows, a.gap)
        secs = time.time() - t0
        attack.end()
        r2 = rss_mib(b.proc.pid)
        report("attack", a.clients, a.flows, ok2, failed2, lat2, r1, r2)
        print("attack: %d /auth requests (%.0f/s), %d slow connections cut and reopened"
              % (attack.auth_requests, attack.auth_requests / secs, attack.slow_reopened))
        print("ratio attack/baseline p99 latency: %.2fx; broker RSS %+.1f MiB over the attack; "
              "broker still up: %s" % (percentile(lat2, 99) / base_p99, r2 - r1,
                                       b.proc.poll() is None))
        if ok2 != a.clients * a.flows:
            h.fail("not every legitimate flow succeeded under attack")

    h.run_main(body)


if __name__ == "__main__":
    main()
