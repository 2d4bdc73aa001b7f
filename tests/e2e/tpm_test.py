#!/usr/bin/python3
"""Real TPM 2.0 quotes from swtpm (driven by tpm2-tools, an independent TPM stack) verified by
`coco evidence verify` and by a real coco-kbs through its attestation path:
  * RSASSA, RSA-PSS and ECDSA attestation keys; the nonce and PCR 8 (init-data) bindings;
  * a quote with a flipped byte, or PCR values other than those quoted, is refused;
  * at the broker: with the AK and PCR 11 as reference values a resource is released; after a
    measured component changes (PCR 11 extended), the same guest is refused the resource.

Env: COCO_KBS, COCO_CLI. Needs swtpm and tpm2-tools (scripts/setup.sh installs them).
"""

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kbs_harness as h  # noqa: E402
from kbs_harness import check, fail, ok  # noqa: E402

from cryptography.hazmat.primitives import serialization  # noqa: E402

COCO = os.environ.get("COCO_CLI", "coco")
ALL_PCRS = "sha256:" + ",".join(str(i) for i in range(24))


def free_port_pair():
    """A free port whose successor is free too: the swtpm TCTI finds the control port at +1."""
    for _ in range(100):
        a = socket.socket()
        a.bind(("127.0.0.1", 0))
        port = a.getsockname()[1]
        b = socket.socket()
        try:
            b.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        finally:
            a.close()
            b.close()
        return port
    fail("no two consecutive free ports on 127.0.0.1")


class Swtpm:
    """A swtpm on 127.0.0.1 (TCP data and control ports), fresh state."""

    def __init__(self):
        self.dir = h.make_tmpdir("coco-swtpm-")
        os.makedirs(os.path.join(self.dir, "state"))
        self.port = free_port_pair()
        ctrl = self.port + 1
        self.proc = subprocess.Popen(
            ["swtpm", "socket", "--tpmstate", "dir=" + os.path.join(self.dir, "state"), "--tpm2",
             "--server", "type=tcp,port=%d,bindaddr=127.0.0.1" % self.port,
             "--ctrl", "type=tcp,port=%d,bindaddr=127.0.0.1" % ctrl,
             "--flags", "not-need-init,startup-clear"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        h.at_exit(self.stop)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        self.env = dict(os.environ, TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=%d" % self.port)

    def stop(self, _failed=False):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def tool(self, *args):
        r = subprocess.run(list(args), capture_output=True, env=self.env, cwd=self.dir, timeout=60)
        if r.returncode != 0:
            fail("%s: %s" % (" ".join(args), r.stderr.decode(errors="replace")))
        # swtpm has no resource manager: drop transient objects after each command.
        subprocess.run(["tpm2_flushcontext", "-t"], capture_output=True, env=self.env,
                       cwd=self.dir, timeout=30)
        return r.stdout.decode()

    def make_ak(self, name, key_alg, scheme):
        if not os.path.exists(os.path.join(self.dir, "ek.ctx")):
            self.tool("tpm2_createek", "-c", "ek.ctx", "-G", "rsa", "-u", "ek.pub")
        self.tool("tpm2_createak", "-C", "ek.ctx", "-c", name + ".ctx", "-G", key_alg, "-g",
                  "sha256", "-s", scheme, "-u", name + ".pem", "-f", "pem", "-n", name + ".name")
        with open(os.path.join(self.dir, name + ".pem"), "rb") as f:
            pem = f.read()
        return pem, serialization.load_pem_public_key(pem).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    def extend(self, pcr, digest):
        self.tool("tpm2_pcrextend", "%d:sha256=%s" % (pcr, digest.hex()))

    def quote(self, ak, ak_der, nonce, scheme="rsassa"):
        out = self.tool("tpm2_quote", "-c", ak + ".ctx", "-l", ALL_PCRS, "-q", nonce.hex(),
                        "-m", "msg.bin", "-s", "sig.bin", "-o", "pcrs.bin", "-g", "sha256",
                        "--scheme", scheme)
        pcrs = {}
        section = out.split("sha256:", 1)[1]
        for m in re.finditer(r"^\s+(\d+)\s*:\s*0x([0-9A-Fa-f]+)", section, re.M):
            pcrs[int(m.group(1))] = m.group(2).lower()
        if sorted(pcrs) != list(range(24)):
            fail("tpm2_quote printed PCRs %r" % sorted(pcrs))

        def read(n):
            with open(os.path.join(self.dir, n), "rb") as f:
                return f.read()
        return {"ak_public": base64.b64encode(ak_der).decode(),
                "tpm_quote": {"message": base64.b64encode(read("msg.bin")).decode(),
                              "signature": base64.b64encode(read("sig.bin")).decode(),
                              "pcrs": [pcrs[i] for i in range(24)]}}


def verify(evidence, *args):
    path = os.path.join(h.make_tmpdir("coco-tpm-ev-"), "evidence.json")
    with open(path, "w") as f:
        json.dump(evidence, f)
    r = subprocess.run([COCO, "evidence", "verify", path, *args], capture_output=True, timeout=60)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def test():
    tpm = Swtpm()
    init_digest = hashlib.sha256(b"algorithm = \"sha256\"\nversion = \"0.1.0\"\n").digest()
    tpm.extend(8, init_digest)  # as the guest does before it attests: PCR 8 = init-data

    nonce = hashlib.sha384(b"a runtime-data digest").digest()
    for name, alg, scheme in (("rsassa", "rsa", "rsassa"), ("rsapss", "rsa", "rsapss"),
                              ("ecdsa", "ecc", "ecdsa")):
        pem, der = tpm.make_ak(name, alg, scheme)
        ev = tpm.quote(name, der, nonce, scheme)
        rc, out, err = verify(ev, "--report-data", nonce.hex(),
                              "--init-data-digest", init_digest.hex())
        check(rc == 0, "%s quote from swtpm verifies (%s)" % (name, err.strip()))
        claims = json.loads(out) if rc == 0 else {}
        check(claims.get("report_data", "").startswith(nonce.hex()), "%s: nonce claim" % name)
        check(claims.get("pcr08") == ev["tpm_quote"]["pcrs"][8] == claims.get("init_data"),
              "%s: init_data is PCR 8" % name)
        ak_path = os.path.join(tpm.dir, name + ".pem")
        rc, _, _ = verify(ev, "--trusted-ak", ak_path)
        check(rc == 0, "%s: accepted with its AK trusted" % name)
        other = os.path.join(tpm.dir, "rsassa.pem") if name != "rsassa" else None
        if other:
            rc, _, err = verify(ev, "--trusted-ak", other)
            check(rc == 1 and "TPM attestation key" in err, "%s: refused with only another AK "
                  "trusted" % name)
        # Broken quotes.
        bad = json.loads(json.dumps(ev))
        msg = bytearray(base64.b64decode(bad["tpm_quote"]["message"]))
        msg[-5] ^= 1
        bad["tpm_quote"]["message"] = base64.b64encode(bytes(msg)).decode()
        rc, _, err = verify(bad)
        check(rc == 1 and "TPM signature" in err, "%s: a flipped quote byte is refused (%s)"
              % (name, err.strip()))
        bad = json.loads(json.dumps(ev))
        bad["tpm_quote"]["pcrs"][11] = "11" * 32
        rc, _, err = verify(bad)
        check(rc == 1 and "TPM PCRs" in err, "%s: PCR values other than quoted are refused"
              % name)
        rc, _, err = verify(ev, "--report-data", hashlib.sha384(b"other").hexdigest())
        check(rc == 1 and "TPM report data" in err, "%s: another nonce is refused" % name)
        rc, _, err = verify(ev, "--init-data-digest", hashlib.sha256(b"x").hexdigest())
        check(rc == 1 and "TPM init-data" in err, "%s: another init-data is refused" % name)

    # The broker: TPM evidence through RCAR, graded by default_cpu, released by "affirming".
    broker = h.Broker(name="tpm", dev=False).init().start()
    broker.set_resource("default/app/secret", b"released to an attested TPM")
    ak_pem, ak_der = tpm.make_ak("broker", "rsa", "rsassa")
    tpm.extend(11, hashlib.sha256(b"the measured workload").digest())
    pcr11 = tpm.quote("broker", ak_der, b"\0" * 32)["tpm_quote"]["pcrs"][11]
    broker.register_reference_values({"tpm_pcr11": [pcr11],
                                      "trusted_aks": [base64.b64encode(ak_der).decode()]})

    def attest():
        c = h.RcarClient(broker.url)
        c.auth(tee="tpm")
        body = c.attestation_body()
        digest = h.report_data_digest(c.key.public_jwk, c.nonce)
        body["tee-evidence"]["primary_evidence"] = tpm.quote("broker", ak_der, digest)
        r = c.request("POST", "/kbs/v0/attest", body)
        return c, r

    c, r = attest()
    check(r.status == 200, "broker: the TPM quote verifies at the broker (%d %s)"
          % (r.status, r.text()[:200]))
    c.token = r.json().get("token")
    res = c.get_resource_raw("default/app/secret")
    check(res.status == 200 and c.decrypt_resource(res)[0] == b"released to an attested TPM",
          "broker: the resource is released")
    # A measured component changes: PCR 11 moves, executables are no longer affirmed.
    tpm.extend(11, hashlib.sha256(b"a different workload").digest())
    c, r = attest()
    check(r.status == 200, "broker: the changed TPM still attests (a token, not affirming)")
    res = c.get_resource_raw("default/app/secret")
    check(res.status in (401, 403), "broker: after PCR 11 changed the resource is refused (%d)"
          % res.status)

    # coco's own TPM attester (TSS2 ESAPI): its attestation key is a primary key of the
    # endorsement hierarchy, learnt here from the claims of a first attestation.
    tcti = "swtpm:host=127.0.0.1,port=%d" % tpm.port
    r = subprocess.run([COCO, "attest", "--kbs", broker.url, "--tee", "tpm", "--tpm-tcti", tcti],
                       capture_output=True, timeout=120)
    check(r.returncode == 0, "coco attest --tee tpm attests with swtpm (%s)"
          % r.stderr.decode(errors="replace").strip())
    token = r.stdout.decode().strip()
    claims = json.loads(h.b64u_dec(token.split(".")[1]))
    tpm_claims = claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"]["tpm"]
    broker.register_reference_values({"tpm_pcr11": [tpm_claims["pcr11"]],
                                      "trusted_aks": [tpm_claims["ak_public"]]})

    def get_resource():
        return subprocess.run([COCO, "get-resource", "--kbs", broker.url, "--tee", "tpm",
                               "--tpm-tcti", tcti, "kbs:///default/app/secret"],
                              capture_output=True, timeout=120)
    r = get_resource()
    check(r.returncode == 0 and r.stdout == b"released to an attested TPM",
          "coco get-resource --tee tpm: released to coco's own TPM quote (%s)"
          % r.stderr.decode(errors="replace").strip()[-200:])
    tpm.extend(11, hashlib.sha256(b"yet another workload").digest())
    r = get_resource()
    check(r.returncode != 0, "coco get-resource --tee tpm: refused after PCR 11 changed (%s)"
          % r.stderr.decode(errors="replace").strip()[-200:])
    ok("TPM quotes verified")


if __name__ == "__main__":
    h.run_main(test)
