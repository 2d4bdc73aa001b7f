#!/usr/bin/python3
"""Negative cases for coco-kbs: every refusal has the right HTTP status and the
upstream error body {"type": ".../errors/<Variant>", "detail": "..."}.

Env: COCO_KBS (coco-kbs binary).
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kbs_harness as h  # noqa: E402
from kbs_harness import check, expect_error, fail, ok  # noqa: E402

from cryptography.hazmat.primitives.asymmetric import ec, ed25519  # noqa: E402

RES = "neg/key/secret1"
ATTEST_ERR = "AttestationError"


def random_nonce():
    return h.b64std(os.urandom(32))


def protocol_cases(b):
    c = h.RcarClient(b.url)
    r = c.auth_raw(version="0.1.1")
    expect_error(r, 401, ATTEST_ERR, "auth with protocol version 0.1.1",
                 detail_contains=("0.1.1", "0.4.0"))

    r = h.RcarClient(b.url).auth_raw(tee="foo")
    expect_error(r, 401, ATTEST_ERR, "auth with unknown TEE \"foo\"")

    # runtime-data nonce differs from the session nonce (report_data consistently bound to
    # the wrong nonce, so only the nonce check can catch it)
    c = h.RcarClient(b.url)
    c.auth()
    r = c.attest_raw(nonce=random_nonce())
    expect_error(r, 401, ATTEST_ERR, "attest with a wrong nonce in runtime-data")

    # reused nonce
    c = h.RcarClient(b.url)
    c.auth()
    old_nonce = c.nonce
    c.attest()
    ok("attest on a fresh session succeeds (setup for nonce reuse)")
    r = c.attest_raw()
    expect_error(r, 401, ATTEST_ERR, "second /attest on the same (already attested) session")
    c2 = h.RcarClient(b.url, c.key)
    c2.auth()
    r = c2.attest_raw(nonce=old_nonce)
    expect_error(r, 401, ATTEST_ERR, "attest on a new session replaying the old nonce")

    # tampered report_data
    c = h.RcarClient(b.url)
    c.auth()
    r = c.attest_raw(tamper=True)
    expect_error(r, 401, ATTEST_ERR, "attest with report_data with one bit flipped")

    # /attest without any session
    c = h.RcarClient(b.url)
    c.nonce = random_nonce()
    r = c.attest_raw()
    if r.status == 200:
        fail("attest without a session cookie was accepted: %r" % r)
    ok("attest without a session cookie is refused (HTTP %d)" % r.status)

    # malformed bodies
    r = h.http_request(b.url, "POST", "/kbs/v0/auth", b'{"version": "0.4.0", "tee": ',
                       {"Content-Type": "application/json"})
    expect_error(r, 401, "SerdeError", "auth with malformed JSON")
    r = h.http_request(b.url, "POST", "/kbs/v0/auth", {"version": "0.4.0", "extra-params": ""})
    expect_error(r, 401, "SerdeError", "auth JSON without \"tee\"")


def token_cases(b):
    # default resource policy: a token that is not affirming gets nothing
    c = h.RcarClient(b.url)
    tok = c.full_attest()
    _, claims = h.jwt_parts(tok)
    status = claims.get("submods", {}).get("cpu0", {}).get("ear.status")
    check(status not in (None, "affirming"),
          "before reference values are registered the sample token is not affirming (%s)"
          % status, json.dumps(claims)[:400])
    r = c.get_resource_raw(RES)
    expect_error(r, 401, "PolicyDeny", "default resource policy refuses a %s token" % status)

    b.register_reference_values(h.SAMPLE_REFERENCE_VALUES)
    ok("registered sample reference values")

    good = h.RcarClient(b.url)
    tok = good.full_attest()
    pt = good.get_resource(RES)
    check(pt == b.secret, "positive control: affirming session reads %s" % RES)

    r = h.RcarClient(b.url).get_resource_raw(RES, cookie=False)
    expect_error(r, 401, "TokenNotFound", "resource GET with no cookie and no token")

    # a token with the same header/claims signed by our own P-256 key
    header, claims = h.jwt_parts(tok)
    mine = ec.generate_private_key(ec.SECP256R1())
    n = mine.public_key().public_numbers()
    forged_header = dict(header)
    if "jwk" in forged_header:  # must not be trusted as-is (insecure_header_jwk)
        forged_header["jwk"] = {"kty": "EC", "crv": "P-256", "alg": "ES256",
                                "x": h._int_to_b64u(n.x, 32), "y": h._int_to_b64u(n.y, 32)}
    forged = h.sign_es256_jwt(forged_header, claims, mine)
    r = h.RcarClient(b.url, good.key).get_resource_raw(RES, bearer=forged, cookie=False)
    expect_error(r, 401, "TokenVerifierError",
                 "resource GET with a Bearer ES256 JWT signed by our own key")

    # the real signature over modified claims
    parts = tok.split(".")
    claims2 = dict(claims, exp=int(claims.get("exp", time.time())) + 3600)
    tampered = parts[0] + "." + h.b64u(json.dumps(claims2, separators=(",", ":"))) + "." + parts[2]
    r = h.RcarClient(b.url, good.key).get_resource_raw(RES, bearer=tampered, cookie=False)
    expect_error(r, 401, "TokenVerifierError", "resource GET with a Bearer JWT whose claims "
                 "were altered after signing")
    return good


def expired_token_case():
    b = h.Broker(name="short-token", extra_args=["--token-lifetime", "1"]).init().start()
    b.register_reference_values(h.SAMPLE_REFERENCE_VALUES)
    secret = os.urandom(16)
    b.set_resource(RES, secret)
    c = h.RcarClient(b.url)
    tok = c.full_attest()
    _, claims = h.jwt_parts(tok)
    if "exp" in claims and "iat" in claims:
        check(claims["exp"] - claims["iat"] <= 2,
              "--token-lifetime 1 gives a token with exp - iat <= 2 s (%s)"
              % (claims["exp"] - claims["iat"]), claims)
    time.sleep(2.2)
    r = h.RcarClient(b.url, c.key).get_resource_raw(RES, bearer=tok, cookie=False)
    expect_error(r, 401, "TokenVerifierError", "resource GET with an expired Bearer token")
    stop_aux(b)


def expired_session_case():
    b = h.Broker(name="short-session", extra_args=["--session-timeout", "1"]).init().start()
    c = h.RcarClient(b.url)
    c.auth()
    time.sleep(2.2)
    r = c.attest_raw()
    expect_error(r, 401, ATTEST_ERR, "attest 2.2 s after auth with --session-timeout 1")
    stop_aux(b)


def no_dev_case():
    b = h.Broker(name="no-dev", dev=False).init().start()
    r = h.RcarClient(b.url).auth_raw(tee="sample")
    expect_error(r, 401, ATTEST_ERR, "auth with tee \"sample\" on a broker without --dev",
                 detail_contains=("--dev",))
    stop_aux(b)


def max_body_case():
    b = h.Broker(name="max-body", extra_args=["--max-body", "4096"]).init().start()
    r = h.RcarClient(b.url).auth_raw()
    check(r.status == 200, "positive control: a small /auth on the --max-body 4096 broker -> 200",
          r)
    big = json.dumps({"version": "0.4.0", "tee": "sample", "extra-params": "x" * 10240}).encode()
    r = h.http_request(b.url, "POST", "/kbs/v0/auth", big, {"Content-Type": "application/json"},
                       early_response_wait=1.0)
    expect_error(r, 413, "PayloadTooLarge", "auth with a 10 KiB body on --max-body 4096")
    stop_aux(b)


def stop_aux(b):
    rc = b.stop()
    if rc != 0:
        h.info("WARNING: broker %s exit code on SIGTERM: %r" % (b.name, rc))


def policy_cases(b, good):
    b.set_resource_policy(h.DENY_ALL_POLICY)
    ok("admin set the deny-all resource policy")
    r = good.get_resource_raw(RES)
    expect_error(r, 401, "PolicyDeny", "resource GET under the deny-all policy")

    padded = h.b64std(h.DENY_ALL_POLICY)
    assert padded.endswith("="), padded
    r = b.admin("POST", "/kbs/v0/resource-policy", {"policy": padded})
    expect_error(r, 401, "ParsePolicyError", "resource policy in standard base64 with '=' padding")

    b.set_resource_policy(h.ALLOW_ALL_POLICY)
    ok("admin set the allow-all resource policy")
    check(good.get_resource(RES) == b.secret, "resource GET works again under allow-all")


def admin_cases(b):
    path = "/kbs/v0/resource/neg/admin/probe"
    r = b.admin("POST", path, b"probe", token="")
    expect_error(r, 401, "AdminAuthAccess", "admin POST resource without a token")
    r = b.admin("GET", "/kbs/v0/reference-value/svn", token="")
    expect_error(r, 401, "AdminAuthAccess", "admin GET reference-value without a token")

    now = int(time.time())
    other = ed25519.Ed25519PrivateKey.generate()
    t = h.sign_eddsa_jwt({"role": "admin", "exp": now + 600, "iat": now}, other)
    r = b.admin("POST", path, b"probe", token=t)
    expect_error(r, 401, "AdminAuthAccess", "admin call with an EdDSA JWT from a foreign key")

    real = h.load_ed25519_pem(os.path.join(b.data_dir, "admin-key.pem"))
    t = h.sign_eddsa_jwt({"role": "auditor", "exp": now + 600, "iat": now}, real)
    r = b.admin("POST", path, b"probe", token=t)
    expect_error(r, 401, "AdminAuthAccess", "admin call with the real key but role \"auditor\"")

    t = h.sign_eddsa_jwt({"role": "admin", "exp": now - 600, "iat": now - 1200}, real)
    r = b.admin("POST", path, b"probe", token=t)
    expect_error(r, 401, "AdminAuthAccess", "admin call with the real key but expired")

    t = h.sign_eddsa_jwt({"role": "admin", "exp": now + 600, "iat": now}, real)
    r = b.admin("POST", path, b"probe", token=t)
    check(r.status == 200, "positive control: real admin key, role \"admin\" -> 200", r)


def path_cases(b, good):
    r = good.request("GET", "/kbs/v0/resource/a/../b")
    expect_error(r, 404, "InvalidRequestPath", "GET /kbs/v0/resource/a/../b (sent raw)")
    r = good.request("GET", "/kbs/v0/resource/a/b/c/d")
    expect_error(r, 404, "InvalidRequestPath", "GET /kbs/v0/resource/a/b/c/d (4 segments)")

    r = good.get_resource_raw("neg/missing/never-set")
    if r.status != 401:
        fail("GET of a resource that was never set: want 401, got %r" % r)
    e = r.json()
    variant = e.get("type", "").rsplit("/", 1)[-1]
    detail = e.get("detail", "")
    if not (e.get("type", "").startswith(h.ERROR_PREFIX) and detail and
            (variant == "PluginInternalError" or "not found" in detail.lower())):
        fail("GET of a never-set resource: want PluginInternalError or a 'not found' detail, "
             "got %r" % e)
    ok("GET of a never-set resource -> 401 %s (%s)" % (variant, detail[:100]))


def restart_case(b):
    data = b"persist me \x00\x01\xfe" + os.urandom(32)
    b.set_resource("neg/persist/key1", data)
    ok("admin stored neg/persist/key1")
    t0 = time.time()
    rc = b.stop(timeout=5.0)
    took = time.time() - t0
    check(rc == 0, "broker exits 0 within 5 s of SIGTERM (%.2f s)" % took,
          "exit code %r (None = still running after 5 s, killed)" % rc)
    b.start()
    c = h.RcarClient(b.url)
    c.full_attest()
    ok("attest after restart on the same data dir")
    pt = c.get_resource("neg/persist/key1")
    check(pt == data, "resource stored before the restart reads back identical")


def main():
    b = h.Broker(name="neg").init().start()
    b.secret = b"negative-test secret " + os.urandom(16)
    b.set_resource(RES, b.secret)

    protocol_cases(b)
    good = token_cases(b)
    expired_token_case()
    expired_session_case()
    policy_cases(b, good)
    no_dev_case()
    admin_cases(b)
    path_cases(b, good)
    max_body_case()
    restart_case(b)
    rc = b.stop()
    check(rc == 0, "broker exits 0 on SIGTERM after the restart", rc)


if __name__ == "__main__":
    h.run_main(main)
