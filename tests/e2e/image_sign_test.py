#!/usr/bin/python3
"""Signed images: skopeo signs with GPG (lookaside), coco verifies under signedBy; coco signs
with a cosign key, OpenSSL checks the signature independently and coco verifies under
sigstoreSigned. Refusals: unsigned image, signature by another key, signature for another
digest, cosign with the wrong key.
"""

import base64
import json
import os
import subprocess
import urllib.request

from kbs_harness import check, describe_run, fail, info, make_tmpdir, run_cli, run_main
from image_harness import (Registry, busybox_rootfs_entries, push_layout, require_tools,
                           write_oci_image)


def gpg_home(base, name, email):
    home = os.path.join(base, name)
    os.makedirs(home, mode=0o700)
    r = subprocess.run(["gpg", "--homedir", home, "--batch", "--passphrase", "",
                        "--quick-gen-key", email, "ed25519", "sign", "never"],
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        fail("gpg key generation failed: %s" % r.stderr.decode(errors="replace"))
    pub = os.path.join(base, name + ".pub.gpg")
    with open(pub, "wb") as f:
        f.write(subprocess.run(["gpg", "--homedir", home, "--export", email],
                               capture_output=True, check=True).stdout)
    return home, pub


def kill_agent(home):
    subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)


def main():
    require_tools()
    work = make_tmpdir("coco-e2e-sign-")
    reg = Registry().start()
    layout = os.path.join(work, "layout")
    a = write_oci_image(layout, "a", [busybox_rootfs_entries("image a\n")])
    b = write_oci_image(layout, "b", [busybox_rootfs_entries("image b\n")])
    push_layout(layout, "a", reg, "test/signed:a")
    push_layout(layout, "b", reg, "test/unsigned:b")

    home1, pub1 = gpg_home(work, "gpg1", "alice@example.test")
    home2, pub2 = gpg_home(work, "gpg2", "mallory@example.test")
    from kbs_harness import at_exit
    at_exit(lambda failed: (kill_agent(home1), kill_agent(home2)))

    lookaside = os.path.join(work, "lookaside")
    regd = os.path.join(work, "registries.d")
    os.makedirs(regd)
    with open(os.path.join(regd, "default.yaml"), "w") as f:
        f.write("default-docker:\n  lookaside: file://%s\n  lookaside-staging: file://%s\n"
                % (lookaside, lookaside))

    # skopeo signs while copying (the peer writes the lookaside layout).
    env = dict(os.environ, GNUPGHOME=home1)
    r = subprocess.run(["/usr/bin/skopeo", "--insecure-policy", "copy", "--registries.d", regd,
                        "--src-tls-verify=false", "--dest-tls-verify=false",
                        "--sign-by", "alice@example.test",
                        "docker://%s/test/signed:a" % reg.host,
                        "docker://%s/test/signed:a" % reg.host],
                       capture_output=True, env=env, timeout=300)
    check(r.returncode == 0, "skopeo copy --sign-by writes a lookaside signature",
          r.stderr.decode(errors="replace")[-800:])
    sigdir = os.path.join(lookaside, "test", "signed@sha256=" + a["manifest"].split(":")[1])
    check(os.path.exists(os.path.join(sigdir, "signature-1")), "signature-1 is where skopeo puts it",
          sorted(os.listdir(lookaside)) if os.path.isdir(lookaside) else "no lookaside")

    def policy(path, reqs, default=None):
        with open(path, "w") as f:
            json.dump({"default": default or [{"type": "reject"}],
                       "transports": {"docker": {reg.host + "/test": reqs}}}, f)
        return path

    p_alice = policy(os.path.join(work, "alice.json"),
                     [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": pub1}])
    p_mallory = policy(os.path.join(work, "mallory.json"),
                       [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": pub2}])

    signed = "docker://%s/test/signed:a" % reg.host
    unsigned = "docker://%s/test/unsigned:b" % reg.host
    r = run_cli(["image", "verify", signed, "--policy", p_alice, "--registries.d", regd])
    check(r.returncode == 0 and b"accepted" in r.stdout,
          "coco verifies skopeo's GPG signature under signedBy", describe_run(r))
    store = os.path.join(work, "store")
    r = run_cli(["image", "pull", signed, "--store", store, "--policy", p_alice,
                 "--registries.d", regd])
    check(r.returncode == 0 and b"signature policy satisfied" in r.stderr,
          "coco image pull --policy accepts the signed image", describe_run(r))
    r = run_cli(["image", "pull", signed, "--store", store, "--policy", p_mallory,
                 "--registries.d", regd])
    check(r.returncode != 0 and b"cached" not in r.stderr,
          "a cached image is still verified (and refused) on the next pull", describe_run(r))

    r = run_cli(["image", "verify", unsigned, "--policy", p_alice, "--registries.d", regd])
    check(r.returncode != 0 and b"no signature" in r.stderr.lower(),
          "an unsigned image is refused, saying no signature was found", describe_run(r))
    r = run_cli(["image", "verify", signed, "--policy", p_mallory, "--registries.d", regd])
    check(r.returncode != 0 and b"not trusted" in r.stderr,
          "a signature by another key is refused", describe_run(r))
    # Alice's signature of image a, placed as if it signed image b.
    bdir = os.path.join(lookaside, "test", "unsigned@sha256=" + b["manifest"].split(":")[1])
    os.makedirs(bdir)
    with open(os.path.join(sigdir, "signature-1"), "rb") as src, \
            open(os.path.join(bdir, "signature-1"), "wb") as dst:
        dst.write(src.read())
    r = run_cli(["image", "verify", unsigned, "--policy", p_alice, "--registries.d", regd])
    check(r.returncode != 0 and b"does not match" in r.stderr,
          "a signature for another digest is refused", describe_run(r))

    # cosign: coco signs, OpenSSL verifies independently, coco verifies under sigstoreSigned.
    key = os.path.join(work, "cosign.key")
    pub = os.path.join(work, "cosign.pub")
    other = os.path.join(work, "other.pub")
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                    key], check=True, capture_output=True)
    subprocess.run(["openssl", "ec", "-in", key, "-pubout", "-out", pub], check=True,
                   capture_output=True)
    subprocess.run("openssl ecparam -name prime256v1 -genkey -noout | openssl ec -pubout -out "
                   + other, shell=True, check=True, capture_output=True)
    cosigned = "docker://%s/test/cosigned:b" % reg.host
    push_layout(layout, "b", reg, "test/cosigned:b")
    r = run_cli(["image", "sign", cosigned, "--cosign-key", key])
    check(r.returncode == 0 and b".sig" in r.stdout, "coco image sign --cosign-key pushes a "
          "signature tag", describe_run(r))
    tag = "sha256-%s.sig" % b["manifest"].split(":")[1]
    req = urllib.request.Request("http://%s/v2/test/cosigned/manifests/%s" % (reg.host, tag),
                                 headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        sig_manifest = json.load(resp)
    layer = sig_manifest["layers"][0]
    with urllib.request.urlopen("http://%s/v2/test/cosigned/blobs/%s" % (reg.host,
                                                                          layer["digest"]),
                                timeout=10) as resp:
        payload = resp.read()
    pfile = os.path.join(work, "payload")
    sfile = os.path.join(work, "sig.der")
    with open(pfile, "wb") as f:
        f.write(payload)
    with open(sfile, "wb") as f:
        f.write(base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"]))
    r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature", sfile, pfile],
                       capture_output=True)
    check(r.returncode == 0 and json.loads(payload)["critical"]["image"][
        "docker-manifest-digest"] == b["manifest"],
        "OpenSSL verifies coco's cosign signature over a payload naming the manifest digest",
        r.stdout + r.stderr)
    p_cos = policy(os.path.join(work, "cosign.json"),
                   [{"type": "sigstoreSigned", "keyPath": pub,
                     "signedIdentity": {"type": "matchRepository"}}])
    p_cos_other = policy(os.path.join(work, "cosign-other.json"),
                         [{"type": "sigstoreSigned", "keyPath": other}])
    r = run_cli(["image", "verify", cosigned, "--policy", p_cos])
    check(r.returncode == 0, "coco verifies the cosign signature under sigstoreSigned",
          describe_run(r))
    r = run_cli(["image", "verify", cosigned, "--policy", p_cos_other])
    check(r.returncode != 0, "a cosign policy with another key refuses it", describe_run(r))
    info("refusal reads: %s" % r.stderr.decode(errors="replace").strip()[:300])


if __name__ == "__main__":
    run_main(main)
