#!/usr/bin/python3
"""`coco evidence verify` on real SEV-SNP evidence from AMD machines and a real TDX quote with
Intel's collateral for its platform (src/attestation/testdata), cross-checked by an independent
implementation: Python's `cryptography` verifies the same report and quote signatures,
certificate chains, collateral signatures and CRLs from the raw bytes.

Env: COCO_CLI (coco binary).
"""

import base64
import hashlib
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import urllib.parse

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kbs_harness as h  # noqa: E402
DATA = os.path.join(HERE, "..", "..", "src", "attestation", "testdata", "snp")
COCO = os.environ.get("COCO_CLI", os.path.join(HERE, "..", "..", "build", "bin", "coco"))
AT = "2026-01-01T00:00:00Z"
FAILED = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILED.append(what)


def verify(*args):
    p = subprocess.run([COCO, "evidence", "verify", *args], capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def data(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


def amd_chain(gen):
    """AMD's ASK, ARK for a generation, from the PEM bundle compiled into coco (amd_roots.cc)."""
    src = open(os.path.join(HERE, "..", "..", "src", "attestation", "amd_roots.cc")).read()
    start = src.index("k%sCas[] = R\"(" % gen) + len("k%sCas[] = R\"(" % gen)
    bundle = src[start:src.index(")\";", start)]
    end = "-----END CERTIFICATE-----"
    certs = [x509.load_pem_x509_certificate((part + end).encode())
             for part in bundle.split(end) if "BEGIN" in part]
    return certs[0], certs[1]  # ASK, ARK


def pss_verify(child, issuer):
    issuer.public_key().verify(child.signature, child.tbs_certificate_bytes,
                               padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48),
                               hashes.SHA384())


def python_verifies(report, vek, gen):
    """Independent check: chain ARK -> ASK -> VEK (RSA-PSS) and the report's P-384 signature."""
    ask, ark = amd_chain(gen)
    try:
        pss_verify(ark, ark)
        pss_verify(ask, ark)
        pss_verify(vek, ask)
        r = int.from_bytes(report[0x2A0:0x2A0 + 72], "little")
        s = int.from_bytes(report[0x2E8:0x2E8 + 72], "little")
        vek.public_key().verify(utils.encode_dss_signature(r, s), report[:0x2A0],
                                ec.ECDSA(hashes.SHA384()))
        return True
    except InvalidSignature:
        return False


def raw_member(text, key):
    """The exact text of a top-level member of a JSON object: what Intel signs."""
    dec = json.JSONDecoder()
    start = text.index('"%s"' % key) + len(key) + 2
    start = text.index(":", start) + 1
    while text[start] in " \t\r\n":
        start += 1
    _, end = dec.raw_decode(text, start)
    return text[start:end]


def tdx():
    """tdx_quote_6 with Intel's TCB info, QE identity, TCB signing chain and CRLs."""
    tdx_dir = os.path.join(DATA, "..", "tdx")
    coll = os.path.join(tdx_dir, "collateral")
    quote_path = os.path.join(tdx_dir, "tdx_quote_6.dat")
    quote = open(quote_path, "rb").read()
    at = "2025-11-10T00:00:00Z"

    # Independent checks: the quote's signature by its attestation key, the QE report by the PCK
    # key, the collateral's signatures by the TCB signing certificate, the PCK CRL by the CA.
    sig_at = 48 + 584 + 4
    r, s_ = quote[sig_at:sig_at + 32], quote[sig_at + 32:sig_at + 64]
    key = quote[sig_at + 64:sig_at + 128]
    ak = ec.EllipticCurvePublicNumbers(int.from_bytes(key[:32], "big"),
                                       int.from_bytes(key[32:], "big"),
                                       ec.SECP256R1()).public_key()
    der_sig = utils.encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s_, "big"))
    try:
        ak.verify(der_sig, quote[:48 + 584], ec.ECDSA(hashes.SHA256()))
        check(True, "python: tdx_quote_6's signature verifies with its attestation key")
    except InvalidSignature:
        check(False, "python: tdx_quote_6's signature verifies with its attestation key")
    pems = quote[quote.index(b"-----BEGIN"):].rstrip(b"\0")
    end = b"-----END CERTIFICATE-----"
    chain = [x509.load_pem_x509_certificate(p + end) for p in pems.split(end) if b"BEGIN" in p]
    signer = x509.load_pem_x509_certificate(open(os.path.join(coll, "tcb_signing_chain.pem"),
                                                 "rb").read())
    for name, member in (("tcb_info_00A06D080000.json", "tcbInfo"),
                         ("qe_identity.json", "enclaveIdentity")):
        text = open(os.path.join(coll, name)).read()
        sig = bytes.fromhex(json.loads(text)["signature"])
        der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                         int.from_bytes(sig[32:], "big"))
        try:
            signer.public_key().verify(der, raw_member(text, member).encode(),
                                       ec.ECDSA(hashes.SHA256()))
            check(True, "python: %s is signed by Intel's TCB signing key" % name)
        except InvalidSignature:
            check(False, "python: %s is signed by Intel's TCB signing key" % name)
    crl = x509.load_pem_x509_crl(open(os.path.join(coll, "pck_crl_platform.pem"), "rb").read())
    check(crl.is_signature_valid(chain[1].public_key()),
          "python: the platform PCK CRL is signed by the quote's PCK Platform CA")
    check(crl.get_revoked_certificate_by_serial_number(chain[0].serial_number) is None,
          "python: the quote's PCK certificate is not revoked")

    rc, out, err = verify(quote_path, "--collateral", coll, "--at", at)
    check(rc == 0, "coco: tdx_quote_6 verifies with its collateral (%s)" % err.strip())
    if rc == 0:
        claims = json.loads(out)
        check(claims["tcb_status"] == "OutOfDate" and claims["tcb_date"] == "2018-01-04T00:00:00Z",
              "coco: TCB status OutOfDate, 2018-01-04 (PCESVN 11 is below the newest level's 13)")
        check(claims["collateral_expiration_status"] == "1",
              "coco: the recorded CRLs are older than the TCB info: collateral expired")
        check(claims["quote"]["body"]["report_data"] == quote[48 + 520:48 + 584].hex(),
              "coco: report_data claim is the quote's REPORT_DATA")
    # The same as upstream's evidence JSON.
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"quote": base64.b64encode(quote).decode(), "cc_eventlog": None}, f)
        ev = f.name
    try:
        rc, _, err = verify(ev, "--collateral", coll, "--at", at,
                            "--report-data", quote[48 + 520:48 + 584].hex())
        check(rc == 0, "coco: the evidence JSON verifies with --report-data bound")
        rc, _, err = verify(ev, "--collateral", coll, "--at", at, "--report-data", "00" * 64)
        check(rc == 1 and "TDX report data" in err, "another report_data is refused (%s)"
              % err.strip())
    finally:
        os.unlink(ev)
    # Broken inputs name their check.
    with tempfile.TemporaryDirectory(prefix="coco-tdx-") as tmp:
        for f in os.listdir(coll):
            with open(os.path.join(coll, f), "rb") as src, open(os.path.join(tmp, f), "wb") as dst:
                dst.write(src.read())
        info = os.path.join(tmp, "tcb_info_00A06D080000.json")
        text = open(info).read().replace('"pcesvn":13', '"pcesvn":12', 1)
        open(info, "w").write(text)
        rc, _, err = verify(quote_path, "--collateral", tmp, "--at", at)
        check(rc == 1 and "TDX TCB info: its signature does not verify" in err,
              "an edited TCB info is refused (%s)" % err.strip())
    flipped = bytearray(quote)
    flipped[100] ^= 1
    with tempfile.NamedTemporaryFile(suffix=".dat", delete=False) as f:
        f.write(flipped)
        bad = f.name
    try:
        rc, _, err = verify(bad, "--collateral", coll, "--at", at)
        check(rc == 1 and "TDX signature" in err, "a flipped quote byte is refused (%s)"
              % err.strip())
    finally:
        os.unlink(bad)
    rc, _, err = verify(quote_path)
    check(rc == 1 and "--collateral" in err, "no collateral: says to give --collateral")
    pccs(quote_path, coll, at)


def pccs(quote_path, coll, at):
    """The same collateral served as a PCCS serves it (v4 paths, issuer chains URL-encoded in
    headers, the root CA CRL as hex text), from a server on 127.0.0.1."""
    chain = open(os.path.join(coll, "tcb_signing_chain.pem")).read()
    files = {
        "/tdx/certification/v4/tcb?fmspc=00A06D080000":
            ("tcb_info_00A06D080000.json", "TCB-Info-Issuer-Chain"),
        "/tdx/certification/v4/qe/identity":
            ("qe_identity.json", "SGX-Enclave-Identity-Issuer-Chain"),
        "/sgx/certification/v4/pckcrl?ca=platform&encoding=der": ("pck_crl_platform.pem", None),
    }
    seen = []

    class Pccs(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(self.path)
            if self.path == "/sgx/certification/v4/rootcacrl":
                body = open(os.path.join(coll, "root_ca_crl.der"), "rb").read().hex().encode()
                header = None
            elif self.path in files:
                name, header = files[self.path]
                body = open(os.path.join(coll, name), "rb").read()
                if name.endswith(".pem"):
                    body = x509.load_pem_x509_crl(body).public_bytes(serialization.Encoding.DER)
            else:
                self.send_error(404)
                return
            self.send_response(200)
            if header and not broken_headers:
                self.send_header(header, urllib.parse.quote(chain))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    broken_headers = False
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pccs)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d" % srv.server_address[1]
    try:
        rc, out, err = verify(quote_path, "--pccs", url, "--at", at)
        check(rc == 0, "coco: tdx_quote_6 verifies with collateral from a PCCS (%s)" % err.strip())
        if rc == 0:
            check(json.loads(out)["tcb_status"] == "OutOfDate", "coco: the PCCS path grades alike")
        check("/tdx/certification/v4/tcb?fmspc=00A06D080000" in seen,
              "coco asked the PCCS for the quote's FMSPC (%s)" % seen)
        rc, _, err = verify(quote_path, "--pccs", url + "/nowhere", "--at", at)
        check(rc == 1 and "answered 404" in err, "a PCCS that answers 404 is named (%s)"
              % err.strip())
        broken_headers = True  # the handler reads it at request time
        rc, _, err = verify(quote_path, "--pccs", url, "--at", at)
        check(rc == 1 and "TCB-Info-Issuer-Chain" in err,
              "a PCCS answer without its issuer chain header is refused (%s)" % err.strip())
    finally:
        srv.shutdown()


def broker_path():
    """coco-kbs (not in dev mode) takes SNP evidence through its attestation path: recorded
    evidence cannot carry this session's nonce, so it gets as far as the REPORT_DATA binding,
    after the chain and the signature verified; a tampered report stops at the signature."""
    broker = h.Broker(name="snp", dev=False).init().start()
    try:
        ev = json.loads(data("genoa-evidence.json"))
        for tamper, want in ((False, "SNP report data"), (True, "SNP signature")):
            c = h.RcarClient(broker.url)
            ch = c.auth(tee="snp")
            body = c.attestation_body()
            e = json.loads(json.dumps(ev))
            if tamper:
                e["attestation_report"]["measurement"][5] ^= 0x10
            body["tee-evidence"]["primary_evidence"] = e
            r = c.request("POST", "/kbs/v0/attest", body)
            check(ch.get("nonce") and r.status == 401 and want in r.text(),
                  "broker: %s evidence stops at \"%s\" (%d %s)"
                  % ("tampered" if tamper else "recorded", want, r.status, r.text()[:160]))
        c = h.RcarClient(broker.url)
        r = c.auth_raw(tee="sample")
        check(r.status != 200, "broker without --dev still refuses the sample TEE")
        # TDX without configured collateral: refused, saying what to configure.
        c = h.RcarClient(broker.url)
        c.auth(tee="tdx")
        body = c.attestation_body()
        quote = open(os.path.join(DATA, "..", "tdx", "tdx_quote_6.dat"), "rb").read()
        body["tee-evidence"]["primary_evidence"] = {"quote": base64.b64encode(quote).decode(),
                                                    "cc_eventlog": None}
        r = c.request("POST", "/kbs/v0/attest", body)
        check(r.status == 401 and "collateral_dir" in r.text(),
              "broker: TDX evidence without collateral says what to configure (%s)"
              % r.text()[:200])
    finally:
        broker.stop()
    # With Intel's collateral: recorded TDX evidence passes the chain, the signatures and the
    # TCB grading, and stops at the REPORT_DATA binding.
    coll = os.path.abspath(os.path.join(DATA, "..", "tdx", "collateral"))
    cfg = os.path.join(h.make_tmpdir("coco-tdx-kbs-"), "kbs.toml")
    with open(cfg, "w") as f:
        f.write('[tdx]\ncollateral_dir = "%s"\n' % coll)
    broker = h.Broker(name="tdx", dev=False, extra_args=["--config", cfg]).init().start()
    try:
        quote = open(os.path.join(coll, "..", "tdx_quote_6.dat"), "rb").read()
        for tamper, want in ((False, "TDX report data"), (True, "TDX signature")):
            q = bytearray(quote)
            if tamper:
                q[48 + 200] ^= 1  # MRTD
            c = h.RcarClient(broker.url)
            c.auth(tee="tdx")
            body = c.attestation_body()
            body["tee-evidence"]["primary_evidence"] = {"quote": base64.b64encode(q).decode(),
                                                        "cc_eventlog": None}
            r = c.request("POST", "/kbs/v0/attest", body)
            check(r.status == 401 and want in r.text(),
                  "broker: %s TDX evidence stops at \"%s\" (%d %s)"
                  % ("tampered" if tamper else "recorded", want, r.status, r.text()[:160]))
    finally:
        broker.stop()


def main():
    with tempfile.TemporaryDirectory(prefix="coco-evidence-") as tmp:
        def write(name, b):
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.write(b)
            return path

        # Milan, report version 2, VCEK given by hand.
        report = data("test-report.bin")
        vcek_path = os.path.join(DATA, "test-vcek.der")
        vcek = x509.load_der_x509_certificate(data("test-vcek.der"))
        check(python_verifies(report, vcek, "Milan"), "python: Milan v2 report and chain verify")
        rc, out, err = verify(os.path.join(DATA, "test-report.bin"), "--cert", vcek_path,
                              "--at", AT)
        check(rc == 0, "coco: Milan v2 report verifies (%s)" % err.strip())
        claims = json.loads(out) if rc == 0 else {}
        check(claims.get("measurement") == report[0x90:0xC0].hex(), "claims: measurement")
        check(claims.get("reported_tcb_microcode") == 115 and claims.get("reported_tcb_snp") == 8,
              "claims: reported TCB")
        check(claims.get("policy_debug_allowed") is False and claims.get("policy_smt_allowed"),
              "claims: policy bits")

        # REPORT_DATA binding: the digest it holds binds; any other does not.
        rd = report[0x50:0x90].hex()
        rc, _, err = verify(os.path.join(DATA, "test-report.bin"), "--cert", vcek_path, "--at", AT,
                            "--report-data", rd)
        check(rc == 0, "coco: --report-data equal to REPORT_DATA binds")
        rc, _, err = verify(os.path.join(DATA, "test-report.bin"), "--cert", vcek_path, "--at", AT,
                            "--report-data", hashlib.sha384(b"other").hexdigest())
        check(rc == 1 and "SNP report data" in err, "coco: another report data is refused (%s)"
              % err.strip())

        # Flipped bytes: the signed region, the signature, the certificate.
        for off in (0x00C, 0x042, 0x090, 0x180, 0x1A0, 0x29F, 0x2A0, 0x2E8):
            b = bytearray(report)
            b[off] ^= 0x01
            path = write("flip-%x.bin" % off, bytes(b))
            rc, _, err = verify(path, "--cert", vcek_path, "--at", AT)
            py = python_verifies(bytes(b), vcek, "Milan")
            check(rc == 1 and "SNP signature" in err and not py,
                  "flipped report byte 0x%x refused by coco and python (%s)" % (off, err.strip()))
        cert = bytearray(data("test-vcek.der"))
        cert[-40] ^= 0x01  # inside the certificate's signature
        rc, _, err = verify(os.path.join(DATA, "test-report.bin"), "--cert",
                            write("vcek-flip.der", bytes(cert)), "--at", AT)
        check(rc == 1 and "SNP certificate chain" in err, "flipped VCEK signature refused (%s)"
              % err.strip())

        # Genoa evidence JSON with its VCEK in cert_chain.
        ev = json.loads(data("genoa-evidence.json"))
        rc, out, err = verify(os.path.join(DATA, "genoa-evidence.json"), "--at", AT)
        check(rc == 0, "coco: Genoa evidence JSON verifies (%s)" % err.strip())
        claims = json.loads(out) if rc == 0 else {}
        check(claims.get("measurement") == bytes(ev["attestation_report"]["measurement"]).hex(),
              "claims: Genoa measurement")
        check(claims.get("chip_id") == bytes(ev["attestation_report"]["chip_id"]).hex(),
              "claims: Genoa chip_id")
        bad = json.loads(json.dumps(ev))
        bad["attestation_report"]["measurement"][0] ^= 1
        rc, _, err = verify(write("genoa-flip.json", json.dumps(bad).encode()), "--at", AT)
        check(rc == 1 and "SNP signature" in err, "Genoa evidence with a flipped measurement "
              "refused (%s)" % err.strip())
        bad = json.loads(json.dumps(ev))
        bad["attestation_report"]["reported_tcb"]["microcode"] += 1
        rc, _, err = verify(write("genoa-tcb.json", json.dumps(bad).encode()), "--at", AT)
        check(rc == 1 and "SNP " in err, "Genoa evidence with another reported TCB refused (%s)"
              % err.strip())
        # The same, wrapped as a KBS attestation's TEE evidence.
        rc, _, _ = verify(write("wrapped.json", json.dumps({"primary_evidence": ev}).encode()),
                          "--at", AT)
        check(rc == 0, "coco: evidence wrapped in primary_evidence verifies")

        # VLEK (report version 3 at VMPL 1): refused at the default VMPL, verified with
        # --max-vmpl 1 before the VLEK expired, refused after.
        vlek_args = [os.path.join(DATA, "test-vlek-report.bin"), "--cert",
                     os.path.join(DATA, "test-vlek.der")]
        rc, _, err = verify(*vlek_args, "--at", "2025-06-01T00:00:00Z")
        check(rc == 1 and "SNP VMPL" in err, "VLEK report at VMPL 1 refused by default")
        rc, out, err = verify(*vlek_args, "--at", "2025-06-01T00:00:00Z", "--max-vmpl", "1")
        check(rc == 0, "coco: VLEK report verifies with --max-vmpl 1 (%s)" % err.strip())
        rc, _, err = verify(*vlek_args, "--at", "2026-06-01T00:00:00Z", "--max-vmpl", "1")
        check(rc == 1 and "expired" in err, "VLEK refused after it expired (%s)" % err.strip())

        # Usage errors are clear.
        rc, _, err = verify(os.path.join(DATA, "test-report.bin"))
        check(rc == 1 and "no VCEK or VLEK" in err, "no certificate: says so")
        rc, _, err = verify(write("junk.bin", b"junk"))
        check(rc == 1 and "--tee" in err, "unknown input: asks for --tee")
        rc, _, err = verify(os.path.join(DATA, "test-report.bin"), "--cert", vcek_path,
                            "--at", "yesterday")
        check(rc == 1 and "RFC 3339" in err, "a bad --at is explained")

    tdx()
    broker_path()
    if FAILED:
        h.fail("%d check(s) failed: %s" % (len(FAILED), "; ".join(FAILED)))


if __name__ == "__main__":
    h.run_main(main)
