#!/usr/bin/python3
"""coco-kbs keeps every write it acknowledged, and says why when it cannot write, on loopback:

  * kill -9 in the middle of a stream of admin writes, several rounds: after each restart every
    acknowledged resource reads back with its last acknowledged value (or the one write that
    was in flight when the broker died);
  * SIGTERM under the same load and a new broker started at once, without waiting for the old
    one to exit: it starts (it waits for the database lock) and has every acknowledged write;
  * a data dir the broker's user cannot write: it refuses to start and names the dir and user;
  * a full database (limits.max_database_bytes): uploads answer 507 with the reason, what was
    stored stays readable, guests keep working, and space freed by a delete is used again;
  * the systemd unit passes `systemd-analyze verify` and restarts on failure.

Env: COCO_KBS (coco-kbs binary).
"""

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kbs_harness as h  # noqa: E402
from kbs_harness import check, expect_error, info  # noqa: E402

WRITERS = 4
KEYS_PER_WRITER = 25
KILL_ROUNDS = 5
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Writers:
    """WRITERS threads, each writing its own KEYS_PER_WRITER resources in turn, remembering for
    every path the last acknowledged value and the one that may be in flight."""

    def __init__(self, broker):
        self.broker = broker
        self.token = broker.admin_token
        self.acked = {}     # path -> value acknowledged last
        self.pending = {}   # path -> value sent, not acknowledged (broker died meanwhile)
        self.count = 0
        self.refused = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.seq = 0

    def _run(self, w):
        n = 0
        while not self.stop.is_set():
            path = "dur/w%d/k%d" % (w, n % KEYS_PER_WRITER)
            with self.lock:
                self.seq += 1
                value = ("%d:%d:" % (w, self.seq)).encode() + os.urandom(16).hex().encode()
                self.pending[path] = value
            try:
                r = h.http_request(self.broker.url, "POST", "/kbs/v0/resource/" + path, value,
                                   {"Authorization": "Bearer " + self.token,
                                    "Content-Type": "application/octet-stream"}, timeout=10)
            except OSError:
                return  # the broker went away: this write stays pending
            with self.lock:
                if r.status == 200:
                    self.acked[path] = value
                    self.pending.pop(path, None)
                    self.count += 1
                else:
                    self.refused.append(r)
                    self.pending.pop(path, None)
            if r.status != 200:
                return
            n += 1

    def run_until(self, event_fn):
        """Start the writers, call event_fn() (which ends the broker), join them."""
        self.stop.clear()
        threads = [threading.Thread(target=self._run, args=(w,)) for w in range(WRITERS)]
        for t in threads:
            t.start()
        event_fn()
        self.stop.set()
        for t in threads:
            t.join(timeout=30)
        check(not any(t.is_alive() for t in threads), "every writer returned")


def read_back(broker, writers, what):
    """Fetch every acknowledged path through a guest flow and compare."""
    c = h.RcarClient(broker.url)
    c.full_attest()
    lost, wrong = [], []
    for path, value in sorted(writers.acked.items()):
        r = c.get_resource_raw(path)
        if r.status != 200:
            lost.append((path, r.status))
            continue
        got = c.decrypt_resource(r, path)[0]
        if got != value and got != writers.pending.get(path):
            wrong.append((path, got[:24], value[:24]))
    check(not lost and not wrong,
          "%s: all %d acknowledged resources read back (%d writes acknowledged so far)" % (
              what, len(writers.acked), writers.count),
          {"lost": lost[:5], "wrong": wrong[:5]})


def kill_rounds():
    b = h.Broker(name="kill").init().start()
    b.set_resource_policy(h.ALLOW_ALL_POLICY)
    w = Writers(b)
    before = 0
    for rnd in range(KILL_ROUNDS):
        def kill_mid_write():
            time.sleep(random.uniform(0.4, 1.0))
            b.kill()  # SIGKILL, by PID
        w.run_until(kill_mid_write)
        check(w.count > before, "round %d: %d writes acknowledged before kill -9" % (
            rnd + 1, w.count - before))
        before = w.count
        b.start()
        read_back(b, w, "after kill -9 round %d" % (rnd + 1))
        check(not w.refused, "no write was refused", w.refused[:3])
    return b, w


def restart_right_after_sigterm(b, w):
    """SIGTERM under load, then a new broker at once on the same data dir."""
    successor = h.Broker(data_dir=b.data_dir, name="successor")

    def term_and_restart():
        time.sleep(0.5)
        b.proc.send_signal(signal.SIGTERM)
        successor.start()  # does not wait for the old process

    w.run_until(term_and_restart)
    old_rc = b.proc.wait(timeout=10)
    check(old_rc == 0, "the stopped broker exited 0 (got %s)" % old_rc)
    with open(successor.log_path, "rb") as f:
        log = f.read().decode(errors="replace")
    check("database is locked" not in log, "the successor never reported 'database is locked'",
          log[-2000:])
    if "waiting for the database lock" in log:
        info("the successor waited for the old broker's database lock")
    read_back(successor, w, "after SIGTERM and an immediate restart")
    successor.stop()


def unwritable_data_dir():
    b = h.Broker(name="readonly").init()
    os.chmod(b.data_dir, 0o755)
    for f in os.listdir(b.data_dir):
        os.chmod(os.path.join(b.data_dir, f), 0o644)
    binary = h.kbs_bin()
    kwargs = {}
    if os.geteuid() == 0:
        # Root passes permission checks; run as an unprivileged service account instead, from a
        # copy of the binary it can reach.
        bindir = tempfile.mkdtemp(prefix="coco-kbs-bin-")
        h.at_exit(lambda failed: shutil.rmtree(bindir, ignore_errors=True))
        os.chmod(bindir, 0o755)
        binary = os.path.join(bindir, "coco-kbs")
        shutil.copy(h.kbs_bin(), binary)
        kwargs = {"user": 65534, "group": 65534}
        uid = 65534
    else:
        os.chmod(b.data_dir, 0o555)
        uid = os.geteuid()
    try:
        r = subprocess.run([binary, "--data-dir", b.data_dir, "--listen", "127.0.0.1:0"],
                           capture_output=True, timeout=30, **kwargs)
    finally:
        os.chmod(b.data_dir, 0o700)
    err = r.stderr.decode(errors="replace")
    check(r.returncode == 1, "a broker that cannot write its data dir exits 1 (got %d)" %
          r.returncode, err)
    want = "data dir %s is not writable by uid %d (Permission denied)" % (b.data_dir, uid)
    check(want in err and "disk I/O error" not in err,
          "and says which dir, which user and why", err)


def full_database():
    cfg = os.path.join(h.make_tmpdir("coco-kbs-full-cfg-"), "kbs.toml")
    with open(cfg, "w") as f:
        f.write("[limits]\nmax_database_bytes = 131072\n")
    b = h.Broker(extra_args=["--config", cfg], name="full").init().start()
    b.register_reference_values(h.SAMPLE_REFERENCE_VALUES)
    value = os.urandom(4096)
    stored, last = [], None
    for i in range(200):
        path = "full/key/r%d" % i
        last = b.admin("POST", "/kbs/v0/resource/" + path, value,
                       headers={"Content-Type": "application/octet-stream"})
        if last.status != 200:
            break
        stored.append(path)
    check(10 < len(stored) < 200, "%d uploads of 4 KiB fit in 128 KiB" % len(stored))
    expect_error(last, 507, ["PluginInternalError"], "an upload to a full database",
                 detail_contains=("database or disk is full", "131072 bytes"))
    again = b.admin("POST", "/kbs/v0/reference-value", {
        "version": "0.1.0", "type": "sample",
        "payload": h.b64std(('{"big": "%s"}' % ("x" * 60000)).encode())})
    expect_error(again, 507, ["RvpsError"], "a reference value to a full database",
                 detail_contains=("full",))
    c = h.RcarClient(b.url)
    c.full_attest()
    check(c.get_resource(stored[0]) == value and c.get_resource(stored[-1]) == value,
          "guests still attest and fetch what was stored")
    for path in stored[:8]:
        b.delete_resource(path)
    r = b.admin("POST", "/kbs/v0/resource/full/key/again", value,
                headers={"Content-Type": "application/octet-stream"})
    check(r.status == 200, "space freed by deletes is used again (got %d)" % r.status)
    check(b.proc.poll() is None, "the broker is still up")
    b.stop()


def systemd_unit():
    unit_src = os.path.join(REPO, "deploy", "coco-kbs.service")
    with open(unit_src) as f:
        unit = f.read()
    check(re.search(r"^Restart=on-failure$", unit, re.M) and
          re.search(r"^RestartSec=\S+$", unit, re.M) and
          re.search(r"^StartLimitIntervalSec=0$", unit, re.M),
          "the unit restarts on failure, after a delay, without giving up")
    with open(os.path.join(REPO, "deploy", "coco-kbs.service.d", "backoff.conf")) as f:
        dropin = f.read()
    check("RestartSteps=" in dropin and "RestartMaxDelaySec=" in dropin,
          "the systemd 254+ drop-in grows the restart delay")
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        info("systemd-analyze is not installed: unit not verified")
        return
    d = h.make_tmpdir("coco-kbs-unit-")
    path = os.path.join(d, "coco-kbs.service")
    with open(path, "w") as f:
        f.write(unit.replace("/usr/local/bin/coco-kbs", os.path.abspath(h.kbs_bin())))
    r = subprocess.run([analyze, "verify", path], capture_output=True, timeout=60)
    out = (r.stdout + r.stderr).decode(errors="replace")
    problems = [l for l in out.splitlines() if "coco-kbs.service" in l]
    check(r.returncode == 0 and not problems, "systemd-analyze verify accepts the unit", out)


def main():
    random.seed(int(os.environ.get("COCO_TEST_SEED", str(int(time.time())))))
    b, w = kill_rounds()
    restart_right_after_sigterm(b, w)
    unwritable_data_dir()
    full_database()
    systemd_unit()


if __name__ == "__main__":
    h.run_main(main)
