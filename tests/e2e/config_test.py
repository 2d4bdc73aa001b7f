#!/usr/bin/python3
"""coco-kbs driven by a TOML config file: admin keys made by `coco kbs keygen`, a role ACL that
lets one role write resources only, JSON log lines, and clear errors for bad config files.

Env: COCO_KBS (coco-kbs binary), COCO_CLI (coco binary).
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kbs_harness as h  # noqa: E402
from kbs_harness import check, expect_error  # noqa: E402


def keygen(work, name, role):
    out = os.path.join(work, name)
    r = h.run_cli(["kbs", "keygen", "--out-dir", out, "--role", role])
    check(r.returncode == 0, "coco kbs keygen --role %s" % role, h.describe_run(r))
    for f in ("admin-key.pem", "admin-key.pub.pem", "admin-token"):
        check(os.path.exists(os.path.join(out, f)), "keygen wrote %s/%s" % (name, f))
    check(oct(os.stat(os.path.join(out, "admin-key.pem")).st_mode & 0o777) == "0o600",
          "the private admin key is readable by its owner only")
    return out


def main():
    work = h.make_tmpdir("coco-kbs-e2e-config-")
    ops = keygen(work, "ops", "admin")
    writer = keygen(work, "writer", "secrets-writer")
    config = os.path.join(work, "kbs.toml")
    with open(config, "w") as f:
        f.write("""# coco-kbs test configuration
log_json = true
max_body_bytes = 65536

[session]
timeout_secs = 120

[admin]
public_keys = ["%s/admin-key.pub.pem", "%s/admin-key.pub.pem"]

[[admin.acl]]
role = "admin"
allowed_endpoints = ["^/kbs/v0/.+$"]

[[admin.acl]]
role = "secrets-writer"
allowed_endpoints = ["^/kbs/v0/resource/[^/]+/[^/]+/[^/]+$"]
""" % (ops, writer))

    b = h.Broker(extra_args=["--config", config], name="config").init().start()

    def token(d):
        with open(os.path.join(d, "admin-token")) as f:
            return f.read().strip()

    r = b.admin("POST", "/kbs/v0/resource/cfg/key/1", b"writer's secret", token=token(writer),
                headers={"Content-Type": "application/octet-stream"})
    check(r.status == 200, "role secrets-writer may set a resource", r)
    msg = {"version": "0.1.0", "type": "sample",
           "payload": h.b64std(json.dumps({"svn": ["1"]}).encode())}
    r = b.admin("POST", "/kbs/v0/reference-value", msg, token=token(writer))
    expect_error(r, 401, ["AdminAuthAccess"], "role secrets-writer may not set reference values",
                 detail_contains=["secrets-writer"])
    r = b.admin("POST", "/kbs/v0/reference-value", msg, token=token(ops))
    check(r.status == 200, "role admin (second configured key) may set reference values", r)
    r = b.admin("POST", "/kbs/v0/resource/cfg/key/2", b"x", token=b.admin_token,
                headers={"Content-Type": "application/octet-stream"})
    expect_error(r, 401, ["AdminAuthAccess"],
                 "the init key is not trusted once admin.public_keys lists other keys")
    r = h.http_request(b.url, "POST", "/kbs/v0/auth", b"x" * 70000,
                       {"Content-Type": "application/json"}, early_response_wait=2.0)
    expect_error(r, 413, ["PayloadTooLarge"], "max_body_bytes from the config file applies")

    b.stop()
    with open(b.log_path, "rb") as f:
        lines = [l for l in f.read().decode().splitlines() if l.strip()]
    parsed = []
    for l in lines:
        try:
            parsed.append(json.loads(l))
        except ValueError:
            check(False, "log_json = true: every log line is JSON", l)
    reqs = [p for p in parsed if p.get("msg") == "request"]
    check(len(reqs) >= 4 and all({"method", "path", "status", "time"} <= set(p) for p in reqs),
          "one JSON log line per request with method, path, status and time (%d lines)" % len(reqs),
          reqs[:3])

    for text, want in (("listen = 8080\n", "wrong type"),
                       ("lisen = \"127.0.0.1:1\"\n", "unknown config key lisen"),
                       ("[session]\ntimeout = 3\n", "unknown config key session.timeout"),
                       ("[[admin.acl]]\nrole = \"x\"\nallowed_endpoints = [\"^/other$\"]\n",
                        "must start with ^/kbs"),
                       ("log_level = \"loud\"\n", "must be debug, info, warn or error"),
                       ("listen = \n", "line 1")):
        bad = os.path.join(work, "bad.toml")
        with open(bad, "w") as f:
            f.write(text)
        r = subprocess.run([h.kbs_bin(), "--config", bad, "--data-dir", b.data_dir, "--listen",
                            "127.0.0.1:0"], capture_output=True, timeout=30)
        check(r.returncode != 0 and want.encode() in r.stderr,
              "bad config %r is refused, naming %r" % (text.strip(), want), h.describe_run(r))

    # --log-level warn: requests are served, and no per-request line is written.
    q = h.Broker(extra_args=["--log-level", "warn"], name="quiet").init().start()
    for _ in range(3):
        check(h.http_request(q.url, "GET", "/healthz").status == 200, "a quiet broker serves")
    q.stop()
    with open(q.log_path, "rb") as f:
        quiet_log = f.read().decode()
    check(" info " not in quiet_log and "request" not in quiet_log,
          "--log-level warn writes no info lines", quiet_log[-500:])

    # The shipped example configuration parses and serves (data_dir overridden by the flag).
    example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy",
                           "kbs-config.toml")
    e = h.Broker(extra_args=["--config", example], name="example").init().start()
    r = h.http_request(e.url, "GET", "/healthz")
    check(r.status == 200, "deploy/kbs-config.toml is a working configuration", r)
    check(e.stop() == 0, "the example-configured broker exits 0 on SIGTERM")

    r = subprocess.run([h.kbs_bin(), "--help"], capture_output=True, timeout=30)
    for key in (b"max_body_bytes", b"timeout_secs", b"max_sessions", b"lifetime_secs",
                b"public_keys", b"allowed_endpoints", b"[tls]", b"log_json", b"log_level",
                b"--log-level"):
        check(r.returncode == 0 and key in r.stdout, "coco-kbs --help documents %s" % key.decode())


if __name__ == "__main__":
    h.run_main(main)
