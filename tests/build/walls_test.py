#!/usr/bin/env python3
"""The build's walls hold: code compiled with a target's include paths (taken from the build's
compile_commands.json) reaches the headers of the libraries that target links, and a header of
a library it does not link fails with "No such file or directory".

Usage: walls_test.py BUILD_DIR
"""
import json
import os
import shlex
import subprocess
import sys
import tempfile

# (a source file of the target, header, whether it must be reachable)
CASES = [
    # `coco` signs admin tokens on the client side and does not link the broker.
    ("src/cli/kbs_cmd.cc", "kbsclient/admin.h", True),
    ("src/cli/kbs_cmd.cc", "kbs/broker.h", False),
    ("src/cli/kbs_cmd.cc", "kbs/admin_auth.h", False),
    # the guest client sees the broker's wire error table, nothing else of the broker
    ("src/kbsclient/kbs_client.cc", "kbs/errors.h", True),
    ("src/kbsclient/kbs_client.cc", "kbs/storage.h", False),
    # the host runtime shares the agent API, not the agent
    ("src/runtime/sandbox.cc", "api/agent.pb.h", True),
    ("src/runtime/sandbox.cc", "agent/service.h", False),
    # low layers do not see high ones
    ("src/base/json.cc", "crypto/crypto.h", False),
    ("src/oci/registry.cc", "net/http_client.h", True),
    ("src/oci/registry.cc", "net/ttrpc.h", False),
    ("src/oci/registry.cc", "oci/unpack_test_util.h", True),  # a folder sees its own helpers
    ("src/image/puller.cc", "oci/unpack_test_util.h", False),  # test helpers stay private
    ("src/attestation/snp_verifier.cc", "attestation/tpm_attester.h", True),
    ("src/signature/policy.cc", "attestation/tpm_attester.h", False),
]


def main():
    build = sys.argv[1]
    with open(os.path.join(build, "compile_commands.json")) as f:
        db = json.load(f)
    src_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    failures = []
    with tempfile.TemporaryDirectory(prefix="coco-walls-") as tmp:
        for source, header, reachable in CASES:
            path = os.path.join(src_root, source)
            entry = next((e for e in db if os.path.realpath(e["file"]) == os.path.realpath(path)),
                         None)
            if entry is None:
                failures.append("%s is not in compile_commands.json" % source)
                continue
            args = shlex.split(entry["command"])
            flags = [a for a in args[1:] if a.startswith(("-I", "-isystem", "-std=", "-D"))]
            probe = os.path.join(tmp, "probe.cc")
            with open(probe, "w") as f:
                f.write('#include "%s"\n' % header)
            r = subprocess.run([args[0], "-fsyntax-only", *flags, probe], cwd=entry["directory"],
                               capture_output=True, text=True)
            missing = "No such file or directory" in r.stderr and header in r.stderr
            if reachable and r.returncode != 0:
                failures.append("%s should reach %s but: %s" % (source, header, r.stderr[-400:]))
            elif not reachable and not (r.returncode != 0 and missing):
                failures.append("%s reaches %s across a wall (rc %d) %s" %
                                (source, header, r.returncode, r.stderr[-300:]))
            else:
                print("PASS: %s %s %s" % (source, "reaches" if reachable else "does not reach",
                                          header))
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
