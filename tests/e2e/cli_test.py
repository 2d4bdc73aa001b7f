#!/usr/bin/python3
"""The `coco` CLI against a live coco-kbs. Every change the CLI makes is checked
through the independent Python RCAR client / admin API, not through the CLI.

Env: COCO_KBS (coco-kbs binary), COCO_CLI (coco binary).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kbs_harness as h  # noqa: E402
from kbs_harness import check, expect_error, fail, ok  # noqa: E402

AS_POLICY_CONTRAINDICATED = """package policy

trust_claims = {"executables": 96, "hardware": 97, "configuration": 96}
"""


def find_value(obj, value):
    """True if `value` occurs (as a string or a list element) anywhere inside obj."""
    if obj == value:
        return True
    if isinstance(obj, dict):
        return any(find_value(v, value) for v in obj.values())
    if isinstance(obj, list):
        return any(find_value(v, value) for v in obj)
    return False


def write(path, data):
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    return path


def expect_cli_ok(args, what, input_bytes=None):
    r = h.run_cli(args, input_bytes)
    check(r.returncode == 0, what, h.describe_run(r))
    return r


def expect_cli_error(args, what):
    r = h.run_cli(args)
    check(r.returncode != 0 and r.stderr.strip() != b"",
          "%s -> exit %d with a message on stderr (%s)" % (
              what, r.returncode, r.stderr.decode("utf-8", "replace").strip()[:150]),
          h.describe_run(r))
    return r


def help_cases():
    for args in (["--help"], ["kbs", "--help"]):
        r = h.run_cli(args)
        out = (r.stdout + r.stderr).decode("utf-8", "replace")
        check(r.returncode == 0 and "set-resource" in out,
              "coco %s exits 0 and mentions set-resource" % " ".join(args), h.describe_run(r))


def main():
    help_cases()

    b = h.Broker(name="cli").init().start()
    work = h.make_tmpdir("coco-cli-e2e-")
    kbs = ["kbs", "--kbs", b.url, "--admin-token", b.admin_token_path]
    b.register_reference_values(h.SAMPLE_REFERENCE_VALUES)
    ok("registered sample reference values (admin API)")
    guest = h.RcarClient(b.url)
    guest.full_attest()
    ok("independent guest attested")

    # -- set-resource from a file and from stdin -------------------------
    data1 = b"file resource \x00\x01\x02\xff\xfe" + os.urandom(300)
    f1 = write(os.path.join(work, "res1.bin"), data1)
    expect_cli_ok(kbs + ["set-resource", "cli/file/res1", f1],
                  "coco kbs set-resource cli/file/res1 FILE exits 0")
    check(guest.get_resource("cli/file/res1") == data1,
          "resource set by the CLI from a file reads back byte-identical over RCAR")

    data2 = b"stdin resource \n\r\x00" + os.urandom(100)
    expect_cli_ok(kbs + ["set-resource", "cli/stdin/res2", "-"],
                  "coco kbs set-resource cli/stdin/res2 - (stdin) exits 0", input_bytes=data2)
    check(guest.get_resource("cli/stdin/res2") == data2,
          "resource set by the CLI from stdin reads back byte-identical over RCAR")

    # -- get-resource (the CLI as a guest; --url is the older spelling of --kbs) --
    r = expect_cli_ok(["get-resource", "--url", b.url, "kbs:///cli/file/res1"],
                      "coco get-resource kbs:///cli/file/res1 exits 0")
    check(r.stdout == data1, "coco get-resource prints exactly the resource bytes",
          "got %r" % r.stdout[:80])

    # -- delete-resource --------------------------------------------------
    expect_cli_ok(kbs + ["delete-resource", "cli/stdin/res2"],
                  "coco kbs delete-resource cli/stdin/res2 exits 0")
    r = guest.get_resource_raw("cli/stdin/res2")
    check(r.status != 200, "deleted resource is no longer released (HTTP %d)" % r.status, r)
    expect_cli_error(["get-resource", "--kbs", b.url, "kbs:///cli/stdin/res2"],
                     "coco get-resource of the deleted resource")

    # -- reference values ---------------------------------------------------
    expect_cli_ok(kbs + ["set-reference-value", "cli_test_rv", "cli-value-123"],
                  "coco kbs set-reference-value cli_test_rv cli-value-123 exits 0")
    r = expect_cli_ok(kbs + ["get-reference-value", "cli_test_rv"],
                      "coco kbs get-reference-value cli_test_rv exits 0")
    try:
        got = json.loads(r.stdout)
    except ValueError:
        fail("get-reference-value output is not JSON: %r" % r.stdout[:200])
    check(find_value(got, "cli-value-123"),
          "get-reference-value prints JSON containing the value (%s)"
          % r.stdout.decode().strip()[:100], got)
    via_api = b.get_reference_value("cli_test_rv")
    check(find_value(via_api, "cli-value-123"),
          "the admin API returns the value set by the CLI", via_api)

    # -- resource policy ------------------------------------------------------
    deny = write(os.path.join(work, "deny.rego"), h.DENY_ALL_POLICY)
    expect_cli_ok(kbs + ["set-resource-policy", deny], "coco kbs set-resource-policy deny.rego exits 0")
    expect_error(guest.get_resource_raw("cli/file/res1"), 401, "PolicyDeny",
                 "resource GET after the CLI installed deny-all")
    allow = write(os.path.join(work, "allow.rego"), h.ALLOW_ALL_POLICY)
    expect_cli_ok(kbs + ["set-resource-policy", allow],
                  "coco kbs set-resource-policy allow.rego exits 0")
    check(guest.get_resource("cli/file/res1") == data1,
          "resource GET works after the CLI installed allow-all")

    # -- errors -------------------------------------------------------------------
    expect_cli_error(["kbs", "--kbs", b.url, "--admin-token", os.path.join(work, "no-such-token"),
                      "set-resource", "cli/err/x", f1], "coco kbs with a missing token file")
    expect_cli_error(["get-resource", "--kbs", b.url, "kbs:///a/b"],
                     "coco get-resource with bad path kbs:///a/b")
    expect_cli_error(kbs + ["set-resource", "a/b", f1], "coco kbs set-resource with bad path a/b")
    dead = "http://127.0.0.1:%d" % h.free_port()
    expect_cli_error(["get-resource", "--kbs", dead, "kbs:///cli/file/res1"],
                     "coco get-resource with an unreachable URL")
    expect_cli_error(["kbs", "--kbs", dead, "--admin-token", b.admin_token_path,
                      "set-resource", "cli/err/y", f1], "coco kbs set-resource with an unreachable URL")
    r = guest.get_resource_raw("cli/err/x")
    check(r.status != 200, "nothing was stored by the failed set-resource calls", r)

    # -- attestation policy -----------------------------------------------------
    # The broker evaluates its built-in default_cpu policy; re-installing its text is accepted,
    # while custom Rego is refused (until the policy engine exists) and leaves the policy as it was.
    jwks = h.fetch_jwks(b.url)
    shown = h.run_cli_binary(os.environ["COCO_KBS"], ["show-policy", "default_cpu"])
    check(shown.returncode == 0 and b"package policy" in shown.stdout,
          "coco-kbs show-policy default_cpu prints the built-in policy", h.describe_run(shown))
    builtin = write(os.path.join(work, "default_cpu.rego"), shown.stdout)
    expect_cli_ok(kbs + ["set-attestation-policy", builtin],
                  "coco kbs set-attestation-policy default_cpu.rego exits 0")
    bad = write(os.path.join(work, "contra.rego"), AS_POLICY_CONTRAINDICATED)
    r = expect_cli_error(kbs + ["set-attestation-policy", bad],
                         "coco kbs set-attestation-policy with custom Rego")
    check(b"ParsePolicyError" in r.stderr, "the refusal names ParsePolicyError", h.describe_run(r))
    g2 = h.RcarClient(b.url)
    tok = g2.full_attest()
    h.check_ear_token(tok, g2.key, jwks, "after the refused policy upload (still affirming)")

    rc = b.stop()
    check(rc == 0, "broker exits 0 on SIGTERM", rc)


if __name__ == "__main__":
    h.run_main(main)
