#!/usr/bin/python3
"""coco-kbs over HTTPS: a self-signed certificate made with the openssl CLI, the `coco` CLI as
admin and as guest trusting it with --kbs-cert (directly and through a forward proxy from the
environment), and a refusal when the certificate is not trusted.

Env: COCO_KBS (coco-kbs binary), COCO_CLI (coco binary).
"""

import base64
import os
import ssl
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kbs_harness as h  # noqa: E402
from kbs_harness import check  # noqa: E402
from proxy_harness import ForwardProxy  # noqa: E402


def main():
    work = h.make_tmpdir("coco-kbs-e2e-tls-")
    cert = os.path.join(work, "cert.pem")
    key = os.path.join(work, "key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True)
    check(r.returncode == 0, "openssl made a self-signed certificate for 127.0.0.1", r.stderr)

    b = h.Broker(extra_args=["--tls-cert", cert, "--tls-key", key], name="tls").init().start()
    url = "https://127.0.0.1:%d" % b.port

    ctx = ssl.create_default_context(cafile=cert)
    with urllib.request.urlopen(url + "/healthz", context=ctx, timeout=10) as resp:
        check(resp.status == 200, "GET /healthz over HTTPS with the certificate trusted")
    try:
        urllib.request.urlopen(url + "/healthz", context=ssl.create_default_context(), timeout=10)
        check(False, "an untrusted certificate must be refused by a default TLS client")
    except urllib.error.URLError as e:
        check("CERTIFICATE_VERIFY_FAILED" in str(e), "a default TLS client refuses the "
              "self-signed certificate (%s)" % e.reason)

    admin = ["kbs", "--url", url, "--cert-file", cert, "--admin-token", b.admin_token_path]  # older names
    for args in (["set-reference-value", "launch_digest", "abcde"],
                 ["set-reference-value", "svn", "1"],
                 ["set-reference-value", "major_version", "1", "--as-integer", "--as-single-value"],
                 ["set-reference-value", "minimum_minor_version", "4", "--as-integer",
                  "--as-single-value"]):
        r = h.run_cli(admin + args)
        check(r.returncode == 0, "coco kbs %s over HTTPS" % " ".join(args), h.describe_run(r))
    secret = b"tls-protected secret\n"
    r = h.run_cli(admin + ["set-resource", "tls/key/1", "-"], secret)
    check(r.returncode == 0, "coco kbs set-resource over HTTPS", h.describe_run(r))

    r = h.run_cli(["get-resource", "--kbs", url, "--kbs-cert", cert, "kbs:///tls/key/1"])
    check(r.returncode == 0 and r.stdout == secret,
          "coco get-resource over HTTPS returns the plaintext", h.describe_run(r))

    # Through a forward proxy taken from the environment, as libcurl-based tools take it: a
    # CONNECT tunnel to the broker, TLS verified end to end; no_proxy sends it direct again.
    no_env = {k: "" for k in ("http_proxy", "HTTPS_PROXY", "https_proxy", "all_proxy",
                              "ALL_PROXY", "no_proxy", "NO_PROXY")}
    proxy = ForwardProxy(require_auth="Basic " + base64.b64encode(b"guest:s3cret").decode())
    try:
        env = dict(no_env, https_proxy="http://guest:s3cret@127.0.0.1:%d" % proxy.port)
        r = h.run_cli(["get-resource", "--kbs", url, "--kbs-cert", cert, "kbs:///tls/key/1"],
                      env=env)
        check(r.returncode == 0 and r.stdout == secret,
              "coco get-resource through an https_proxy returns the plaintext", h.describe_run(r))
        tunnels = [t for m, t, _ in proxy.requests() if m == "CONNECT"]
        check(tunnels and all(t == "127.0.0.1:%d" % b.port for t in tunnels),
              "the proxy was asked for tunnels to the broker only (%s)" % tunnels)
        before = len(proxy.requests())
        r = h.run_cli(["get-resource", "--kbs", url, "--kbs-cert", cert, "kbs:///tls/key/1"],
                      env=dict(env, NO_PROXY="127.0.0.0/8"))
        check(r.returncode == 0 and r.stdout == secret and len(proxy.requests()) == before,
              "NO_PROXY=127.0.0.0/8 reaches the broker directly", h.describe_run(r))
        r = h.run_cli(["get-resource", "--kbs", url, "--kbs-cert", cert, "kbs:///tls/key/1"],
                      env=dict(no_env, https_proxy="http://127.0.0.1:%d" % proxy.port))
        check(r.returncode != 0 and b"407" in r.stderr and r.stdout == b"",
              "a proxy that wants credentials is named with its 407", h.describe_run(r))
        r = h.run_cli(["get-resource", "--kbs", url, "--kbs-cert", cert, "kbs:///tls/key/1"],
                      env=dict(no_env, https_proxy="socks5://127.0.0.1:1"))
        check(r.returncode != 0 and b"only http:// proxies" in r.stderr,
              "a socks proxy is refused with the reason", h.describe_run(r))
    finally:
        proxy.stop()

    r = h.run_cli(["get-resource", "--kbs", url, "--kbs-cert", os.path.join(work, "nope.pem"),
                   "kbs:///tls/key/1"])
    check(r.returncode != 0, "coco get-resource with a missing CA file fails", h.describe_run(r))
    other_key = os.path.join(work, "other-key.pem")
    other = os.path.join(work, "other.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", other_key, "-out", other,
                    "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True, check=True)
    r = h.run_cli(["get-resource", "--kbs", url, "--kbs-cert", other, "kbs:///tls/key/1"])
    check(r.returncode != 0 and r.stdout == b"",
          "coco get-resource trusting another certificate fails and prints nothing",
          h.describe_run(r))

    rc = b.stop()
    check(rc == 0, "HTTPS broker exits 0 on SIGTERM", rc)


if __name__ == "__main__":
    h.run_main(main)
