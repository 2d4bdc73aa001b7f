#!/usr/bin/python3
"""Encrypted images against real peers: docker-registry, skopeo, coco-kbs (dev mode).

Checks:
  * skopeo encrypts (jwe: RSA and EC recipients) -> coco pulls, decrypts, unpacks; the tree equals
    the plain image's, with either private key;
  * coco encrypts (jwe) -> `skopeo copy --decryption-key` decrypts; layer digests equal the
    originals; coco decrypt gives the same;
  * `coco keyprovider` answers the exact keywrap/keyunwrap JSON of Go ocicrypt (base64) and of
    ocicrypt-rs (integer arrays, raw optsdata);
  * an image encrypted the way ocicrypt does it with a key provider (layer cipher done here in
    Python, key wrapped by `coco keyprovider`, KEK stored in coco-kbs) is pushed by skopeo and
    pulled by coco after attestation; `coco image encrypt --recipient provider:coco:kbs:///...`
    likewise;
  * one flipped ciphertext byte (digest fixed up) -> HMAC failure; nothing in the store or root;
  * a wrong key-encryption key in the broker -> error naming the key id; a wrong JWE key ->
    error naming the recipients; no key -> error saying how to give one.
"""

import base64
import gzip
import hashlib
import hmac
import json
import os
import shutil

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import kbs_harness as h
from kbs_harness import check, describe_run, info, make_tmpdir, run_cli, run_main
from image_harness import (Registry, busybox_rootfs_entries, push_layout, require_tools,
                           sha256_hex, skopeo, tree_listing, write_oci_image)

AA = "org.opencontainers.image.enc.keys.provider.attestation-agent"


def layout_manifest(layout, tag=None):
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    entries = index["manifests"]
    if tag is not None:
        entries = [m for m in entries
                   if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
    digest = entries[0]["digest"]
    with open(os.path.join(layout, "blobs", "sha256", digest.split(":")[1]), "rb") as f:
        return json.loads(f.read())


def layout_blob(layout, digest):
    with open(os.path.join(layout, "blobs", "sha256", digest.split(":")[1]), "rb") as f:
        return f.read()


def rewrite_layout(layout, tag, manifest):
    """Stores a changed manifest in an OCI layout and points TAG at it."""
    mbytes = json.dumps(manifest).encode()
    d = sha256_hex(mbytes)
    with open(os.path.join(layout, "blobs", "sha256", d), "wb") as f:
        f.write(mbytes)
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get("org.opencontainers.image.ref.name")
                          != tag]
    index["manifests"].append({"mediaType": manifest["mediaType"], "digest": "sha256:" + d,
                               "size": len(mbytes),
                               "annotations": {"org.opencontainers.image.ref.name": tag}})
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)


def put_blob(layout, data):
    d = sha256_hex(data)
    with open(os.path.join(layout, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return "sha256:" + d


def cli_ok(args, what, input_bytes=None):
    r = run_cli(args, input_bytes)
    check(r.returncode == 0, what, describe_run(r))
    return r


def cli_fails(args, what, must_contain=()):
    r = run_cli(args)
    err = r.stderr.decode(errors="replace")
    check(r.returncode != 0 and all(s in err for s in must_contain),
          "%s -> refused (%s)" % (what, err.strip().splitlines()[-1][:160] if err.strip() else ""),
          describe_run(r))
    return err


def openssl_keys(d):
    import subprocess
    keys = {}
    subprocess.run(["openssl", "genrsa", "-out", d + "/rsa.pem", "2048"], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", d + "/rsa.pem", "-pubout", "-out", d + "/rsa.pub"],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-384", "-out", d + "/ec.pem"], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", d + "/ec.pem", "-pubout", "-out", d + "/ec.pub"],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "genrsa", "-out", d + "/other.pem", "2048"], check=True,
                   capture_output=True)
    for k in ("rsa", "ec", "other"):
        keys[k] = d + "/%s.pem" % k
    keys["rsa.pub"], keys["ec.pub"] = d + "/rsa.pub", d + "/ec.pub"
    return keys


def ocicrypt_encrypt_layer(gz):
    """AES_256_CTR_HMAC_SHA256 as ocicrypt defines it, independently of coco."""
    key, nonce = os.urandom(32), os.urandom(16)
    enc = Cipher(algorithms.AES(key), modes.CTR(nonce)).encryptor()
    ct = enc.update(gz) + enc.finalize()
    mac = hmac.new(key, ct, hashlib.sha256).digest()
    priv = json.dumps({"symkey": base64.b64encode(key).decode(),
                       "digest": "sha256:" + sha256_hex(gz),
                       "cipheroptions": {"nonce": base64.b64encode(nonce).decode()}},
                      separators=(",", ":")).encode()
    pub = json.dumps({"cipher": "AES_256_CTR_HMAC_SHA256",
                      "hmac": base64.b64encode(mac).decode(), "cipheroptions": {}},
                     separators=(",", ":")).encode()
    return ct, priv, pub


def main():
    require_tools()
    tmp = make_tmpdir("coco-e2e-crypt-")
    keys = openssl_keys(tmp)
    reg = Registry("crypt").start()
    host = reg.host
    store = os.path.join(tmp, "store")

    plain = os.path.join(tmp, "plain")
    img = write_oci_image(plain, "v1", [busybox_rootfs_entries("encrypted hello\n"),
                                        [("etc", "dir", None, 0o755),
                                         ("etc/second", "file", b"layer two\n", 0o644)]])
    push_layout(plain, "v1", reg, "crypt/plain:v1")
    ref_root = os.path.join(tmp, "ref-root")
    cli_ok(["image", "unpack", "docker://%s/crypt/plain:v1" % host, ref_root, "--store", store],
           "coco unpacks the plain image (reference tree)")
    ref_tree = tree_listing(ref_root)

    # --- skopeo encrypts, coco decrypts ---------------------------------------------------
    skopeo(["copy", "--dest-tls-verify=false", "--encryption-key", "jwe:" + keys["rsa.pub"],
            "--encryption-key", "jwe:" + keys["ec.pub"], "oci:%s:v1" % plain,
            "docker://%s/crypt/skopeo-enc:v1" % host])
    src = "docker://%s/crypt/skopeo-enc:v1" % host
    for k in ("rsa", "ec"):
        root = os.path.join(tmp, "root-skopeo-" + k)
        st = os.path.join(tmp, "store-" + k)
        cli_ok(["image", "pull", src, "--decryption-key", keys[k], "--store", st,
                "--unpack", root], "coco pulls the skopeo-encrypted image with the %s key" % k)
        check(tree_listing(root) == ref_tree,
              "tree decrypted with the %s key equals the plain image's" % k)
        for gz in img["layers"]:
            check(os.path.exists(os.path.join(st, "blobs", "sha256", gz.split(":")[1])),
                  "store holds plaintext layer %s (%s key)" % (gz[:19], k))
    err = cli_fails(["image", "pull", src, "--decryption-key", keys["other"], "--store",
                     os.path.join(tmp, "st-other")], "a key that is no recipient",
                    ["RSA-OAEP", "ECDH-ES+A256KW", "none of the"])
    err = cli_fails(["image", "pull", src, "--store", os.path.join(tmp, "st-none")],
                    "an encrypted image without keys", ["--decryption-key"])

    # A decrypted layer in the store never serves a pull that lacks its key: a plain manifest
    # naming the plaintext digest must fetch it (here the source lacks it, so the pull fails).
    sneaky = os.path.join(tmp, "sneaky")
    shutil.copytree(plain, sneaky)
    for gz in img["layers"]:
        os.remove(os.path.join(sneaky, "blobs", "sha256", gz.split(":")[1]))
    err = cli_fails(["image", "pull", "oci:%s:v1" % sneaky, "--store",
                     os.path.join(tmp, "store-ec")],
                    "a plain manifest naming a decrypted layer does not get it from the store",
                    [img["layers"][0].split(":")[1][:12]])
    check(oct(os.stat(os.path.join(tmp, "store-ec")).st_mode & 0o777) == "0o700",
          "the content store directory is private to its owner")

    # --- coco encrypts, skopeo decrypts ---------------------------------------------------
    cenc = "docker://%s/crypt/coco-enc:v1" % host
    cli_ok(["image", "encrypt", "docker://%s/crypt/plain:v1" % host, cenc, "--recipient",
            "jwe:" + keys["rsa.pub"], "--recipient", "jwe:" + keys["ec.pub"]],
           "coco encrypts for an RSA and an EC recipient into the registry")
    for k in ("rsa", "ec"):
        out = os.path.join(tmp, "skopeo-dec-" + k)
        skopeo(["copy", "--src-tls-verify=false", "--decryption-key", keys[k], cenc,
                "oci:%s:v1" % out])
        m = layout_manifest(out)
        check([l["digest"] for l in m["layers"]] == img["layers"],
              "skopeo decrypts coco's image with the %s key: layer digests equal the "
              "originals" % k)
        check(all(not l["mediaType"].endswith("+encrypted") for l in m["layers"]),
              "skopeo's decrypted layers are plain media types")
    coco_dec = os.path.join(tmp, "coco-dec")
    cli_ok(["image", "decrypt", cenc, "oci:%s:v1" % coco_dec, "--decryption-key", keys["ec"]],
           "coco decrypts its own image into an OCI layout")
    check([l["digest"] for l in layout_manifest(coco_dec)["layers"]] == img["layers"],
          "coco decrypt restores the original layer digests")

    # --- tampered ciphertext ------------------------------------------------------------------
    tampered = os.path.join(tmp, "tampered")
    skopeo(["copy", "--encryption-key", "jwe:" + keys["ec.pub"], "oci:%s:v1" % plain,
            "oci:%s:v1" % tampered])
    m = layout_manifest(tampered, "v1")
    blob = bytearray(layout_blob(tampered, m["layers"][0]["digest"]))
    blob[len(blob) // 2] ^= 0x01
    m["layers"][0]["digest"] = put_blob(tampered, bytes(blob))  # digest fixed up: only the HMAC
    rewrite_layout(tampered, "bad", m)
    st = os.path.join(tmp, "store-tampered")
    root = os.path.join(tmp, "root-tampered")
    err = cli_fails(["image", "pull", "oci:%s:bad" % tampered, "--decryption-key", keys["ec"],
                     "--store", st, "--unpack", root], "one flipped ciphertext byte",
                    ["HMAC"])
    check(not os.path.exists(root), "nothing is created at the unpack root")
    blobs = os.listdir(os.path.join(st, "blobs", "sha256"))
    check(img["layers"][0].split(":")[1] not in blobs,
          "the tampered layer's plaintext is not in the store")
    tmpfiles = os.listdir(os.path.join(st, "tmp")) if os.path.isdir(os.path.join(st, "tmp")) else []
    check(tmpfiles == [], "no temporary file is left in the store", tmpfiles)

    # --- coco keyprovider: the exact protocol forms -------------------------------------------
    kek_file = os.path.join(tmp, "kek.bin")
    kek = os.urandom(32)
    with open(kek_file, "wb") as f:
        f.write(kek)
    _, priv, _ = ocicrypt_encrypt_layer(b"x")
    params = "keyid=kbs:///default/key/kp::keypath=" + kek_file
    go_wrap = {"op": "keywrap", "keywrapparams": {
        "ec": {"Parameters": {"coco": [base64.b64encode(params.encode()).decode()]},
               "DecryptConfig": {"Parameters": None}},
        "optsdata": base64.b64encode(priv).decode()}}
    r = cli_ok(["keyprovider"], "keyprovider answers Go's keywrap request",
               json.dumps(go_wrap).encode())
    ann_field = json.loads(r.stdout)["keywrapresults"]["annotation"]
    check(isinstance(ann_field, list), "keywrap answers the packet as an integer array (read by "
          "ocicrypt-rs and by Go's encoding/json)")
    ann_bytes = bytes(ann_field)
    packet = json.loads(ann_bytes)
    check(packet["kid"] == "kbs:///default/key/kp" and packet["wrap_type"] == "A256GCM",
          "the packet names the key id and A256GCM", packet)
    # Independent unwrap of the packet (AES-256-GCM, tag appended).
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    opened = AESGCM(kek).decrypt(base64.b64decode(packet["iv"]),
                                 base64.b64decode(packet["wrapped_data"]), None)
    check(opened == priv, "the packet opens with the KEK outside coco (AES-256-GCM)")
    go_unwrap = {"op": "keyunwrap", "keyunwrapparams": {
        "dc": {"Parameters": {"coco": ["RW5hYmxlZA=="]}},
        "annotation": base64.b64encode(ann_bytes).decode()}}
    r = cli_ok(["keyprovider", "--keypath", kek_file], "keyprovider answers Go's keyunwrap",
               json.dumps(go_unwrap).encode())
    check(bytes(json.loads(r.stdout)["keyunwrapresults"]["optsdata"]) == priv,
          "keyunwrap returns the private options")
    rust_unwrap = {"op": "keyunwrap", "keyunwrapparams": {
        "dc": {"Parameters": {}}, "annotation": list(ann_bytes)}}
    r = cli_ok(["keyprovider", "--keypath", kek_file], "keyprovider answers ocicrypt-rs keyunwrap",
               json.dumps(rust_unwrap).encode())
    check(bytes(json.loads(r.stdout)["keyunwrapresults"]["optsdata"]) == priv,
          "keyunwrap answers an ocicrypt-rs request")
    rust_wrap = {"op": "keywrap", "keywrapparams": {
        "ec": {"Parameters": {"coco": [list(params.encode())]}, "DecryptConfig": None},
        "optsdata": priv.decode()}}
    r = cli_ok(["keyprovider"], "keyprovider answers ocicrypt-rs keywrap (raw optsdata)",
               json.dumps(rust_wrap).encode())
    check(json.loads(bytes(json.loads(r.stdout)["keywrapresults"]["annotation"]))["kid"] ==
          "kbs:///default/key/kp", "keywrap answers an ocicrypt-rs request")
    r = run_cli(["keyprovider"], b'{"op":"keywrap"}')
    check(r.returncode != 0 and b"keywrapparams" in r.stderr, "a malformed request is refused",
          describe_run(r))

    # --- key-provider images with the broker ----------------------------------------------------
    broker = h.Broker(name="crypt").init().start()
    broker.register_reference_values(h.SAMPLE_REFERENCE_VALUES)  # the sample guest is affirming
    # (1) ocicrypt-style: layers encrypted here, keys wrapped by `coco keyprovider`, KEK in broker.
    kp_layout = os.path.join(tmp, "kp-layout")
    shutil.copytree(plain, kp_layout)
    m = layout_manifest(kp_layout, "v1")
    for layer in m["layers"]:
        ct, priv, pub = ocicrypt_encrypt_layer(layout_blob(plain, layer["digest"]))
        wrap = {"op": "keywrap", "keywrapparams": {
            "ec": {"Parameters": {"coco": [base64.b64encode(b"algorithm=A256GCM").decode()]},
                   "DecryptConfig": {"Parameters": None}},
            "optsdata": base64.b64encode(priv).decode()}}
        r = cli_ok(["keyprovider", "--kbs", broker.url, "--admin-token", broker.admin_token_path],
                   "keyprovider wraps a layer key with a fresh KEK stored in the broker",
                   json.dumps(wrap).encode())
        ann = base64.b64encode(bytes(json.loads(r.stdout)["keywrapresults"]["annotation"])).decode()
        layer["mediaType"] += "+encrypted"
        layer["digest"], layer["size"] = put_blob(kp_layout, ct), len(ct)
        layer["annotations"] = {AA: ann,
                                "org.opencontainers.image.enc.pubopts":
                                    base64.b64encode(pub).decode()}
    kids = [json.loads(base64.b64decode(l["annotations"][AA]))["kid"] for l in m["layers"]]
    check(len(set(kids)) == len(kids) and all(k.startswith("kbs:///default/image-kek/")
                                              for k in kids),
          "each layer got its own key id under default/image-kek", kids)
    rewrite_layout(kp_layout, "kp", m)
    push_layout(kp_layout, "kp", reg, "crypt/provider:v1")
    root = os.path.join(tmp, "root-provider")
    cli_ok(["image", "pull", "docker://%s/crypt/provider:v1" % host, "--kbs", broker.url,
            "--store", os.path.join(tmp, "store-provider"), "--unpack", root],
           "coco pulls the key-provider image, KEKs fetched after attestation")
    check(tree_listing(root) == ref_tree, "the key-provider image's tree equals the plain one")

    # (2) coco image encrypt in key-provider mode.
    kenc = "docker://%s/crypt/kbs-enc:v1" % host
    cli_ok(["image", "encrypt", "docker://%s/crypt/plain:v1" % host, kenc, "--recipient",
            "provider:coco:kbs:///default/image-kek/app", "--kbs", broker.url, "--admin-token",
            broker.admin_token_path], "coco encrypts with a KEK stored in the broker")
    r = cli_ok(["image", "inspect", kenc, "--raw"], "coco inspect --raw of the encrypted image")
    kids = {json.loads(base64.b64decode(l["annotations"][AA]))["kid"]
            for l in json.loads(r.stdout)["layers"]}
    check(len(kids) == 1 and next(iter(kids)).startswith("kbs:///default/image-kek/app-"),
          "one KEK per image, under the given id plus a random suffix", kids)
    kid = next(iter(kids))
    kid_path = kid[len("kbs:///"):]
    root = os.path.join(tmp, "root-kbs")
    cli_ok(["image", "pull", kenc, "--kbs", broker.url, "--store",
            os.path.join(tmp, "store-kbs"), "--unpack", root],
           "coco pulls its key-provider image after attestation")
    check(tree_listing(root) == ref_tree, "tree equals the plain one")
    # The broker's copy of the KEK, fetched independently, opens the packet.
    client = h.RcarClient(broker.url)
    client.full_attest()
    kek_b = client.get_resource(kid_path)
    out = os.path.join(tmp, "kbs-dec")
    cli_ok(["image", "decrypt", kenc, "oci:%s:v1" % out, "--kbs", broker.url],
           "coco decrypt with the broker")
    check([l["digest"] for l in layout_manifest(out)["layers"]] == img["layers"],
          "decrypted layer digests equal the originals")
    check(len(kek_b) == 32, "the broker holds a 32-byte KEK for " + kid)
    # Encrypting again to the same id leaves the first image's key alone.
    cli_ok(["image", "encrypt", "docker://%s/crypt/plain:v1" % host, kenc + "-again",
            "--recipient", "provider:coco:kbs:///default/image-kek/app", "--kbs", broker.url,
            "--admin-token", broker.admin_token_path], "coco encrypts a second image to that id")
    check(client.get_resource(kid_path) == kek_b, "the first image's KEK is unchanged")
    err = cli_fails(["image", "encrypt", "docker://%s/crypt/plain:v1" % host, kenc + "-ctr",
                     "--recipient", "provider:coco:kbs:///default/image-kek/app::algorithm=A256CTR",
                     "--kbs", broker.url, "--admin-token", broker.admin_token_path],
                    "A256CTR key wrapping without --allow-ctr-key-wrap", ["A256CTR"])

    # The signature policy can live in the broker too: checked on this pull, cached or not.
    broker.set_resource("default/policy/images", json.dumps({"default": [{"type": "reject"}]}))
    err = cli_fails(["image", "pull", kenc, "--kbs", broker.url, "--policy",
                     "kbs:///default/policy/images", "--store", os.path.join(tmp, "store-kbs")],
                    "a reject policy fetched from the broker (blobs cached)", ["reject"])
    broker.set_resource("default/policy/images",
                        json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    cli_ok(["image", "pull", kenc, "--kbs", broker.url, "--policy",
            "kbs:///default/policy/images", "--store", os.path.join(tmp, "store-kbs")],
           "an accepting policy fetched from the broker lets the pull through")

    # Wrong KEK in the broker -> error names the key id.
    broker.set_resource(kid_path, os.urandom(32))
    err = cli_fails(["image", "pull", kenc, "--kbs", broker.url, "--store",
                     os.path.join(tmp, "store-wrong")], "a wrong KEK in the broker", [kid])
    # A KEK that the broker does not have -> error names the key id too.
    broker.delete_resource(kid_path)
    err = cli_fails(["image", "pull", kenc, "--kbs", broker.url, "--store",
                     os.path.join(tmp, "store-gone")], "a KEK missing from the broker", [kid])
    info("all encrypted-image checks passed")


if __name__ == "__main__":
    run_main(main)
