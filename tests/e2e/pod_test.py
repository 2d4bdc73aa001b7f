#!/usr/bin/python3
"""`coco run`: a real pod VM (QEMU microvm, TCG here, KVM where it works) with coco-agent as PID 1,
reaching a real coco-kbs (dev mode) and a real docker-registry on host loopback through its
virtio-serial tunnel.

Checks:
  * plain image: the container's stdout, stderr and exit code are ours; --timings names phases;
  * the default agent policy refuses exec ("ExecProcessRequest is blocked by policy"); an
    init-data policy.rego that allows it lets the same exec run;
  * encrypted image (coco image encrypt --recipient provider:coco:kbs:///..., KEK in the
    broker): decrypted inside the pod after attestation; with the KEK gone the pod fails with
    the broker's reason and the key id; with a deny-all resource policy likewise;
  * GPG-signed image (skopeo --sign-by, lookaside served over HTTP on loopback) under a signedBy
    policy fetched from the broker, key from the broker: runs; an unsigned image is refused;
  * QEMU killed mid-run: coco run says so, exits 125 and leaves no QEMU and no run directory;
  * broker unreachable: a clear error within bounded time;
  * a sealed secret (ES256 JWS made with Python's cryptography) in the environment is unsealed
    in the pod from the broker; one signed by another key is refused.
"""

import http.server
import json
import os
import signal
import subprocess
import threading
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import kbs_harness as h
from kbs_harness import check, cli_bin, describe_run, fail, info, make_tmpdir, run_main
from image_harness import (Registry, busybox_rootfs_entries, push_layout, require_tools,
                           write_oci_image)
from image_sign_test import gpg_home, kill_agent

GUEST_DIR = os.environ.get("COCO_GUEST_DIR", "")


def qemu_pids_under(run_root):
    """QEMU processes whose command line names a path under run_root."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"qemu-system" in cmd and run_root.encode() in cmd:
            pids.append(int(p))
    return pids


class Runner:
    def __init__(self, work):
        self.run_root = os.path.join(work, "xdg-run")
        os.makedirs(self.run_root, mode=0o700)
        self.env = dict(os.environ, XDG_RUNTIME_DIR=self.run_root, COCO_GUEST_DIR=GUEST_DIR)

    def run(self, args, timeout=240):
        t = time.time()
        r = subprocess.run([cli_bin(), "run"] + args, capture_output=True, env=self.env,
                           timeout=timeout)
        r.wall = time.time() - t
        return r

    def popen(self, args):
        return subprocess.Popen([cli_bin(), "run"] + args, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=self.env)

    def leftovers(self):
        return os.listdir(self.run_root), qemu_pids_under(self.run_root)


def serve_dir(directory):
    """A plain HTTP server for `directory` on 127.0.0.1 (the lookaside store); returns its port."""
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=directory, **k)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    h.at_exit(lambda failed: srv.shutdown())
    return srv.server_address[1]


INIT_DATA_ALLOW_EXEC = '''version = "0.1.0"
algorithm = "sha384"

[data]
"policy.rego" = """
package agent_policy

default CreateSandboxRequest := true
default CreateContainerRequest := true
default StartContainerRequest := true
default ExecProcessRequest := true
default ReadStdoutRequest := true
default ReadStderrRequest := true
default WaitProcessRequest := true
default SignalProcessRequest := true
default RemoveContainerRequest := true
default DestroySandboxRequest := true
"""
'''


def main():
    require_tools()
    for f in ("vmlinux", "rootfs.img"):
        if not GUEST_DIR or not os.path.isfile(os.path.join(GUEST_DIR, f)):
            fail("the guest image (%s) is missing from COCO_GUEST_DIR=%r: run scripts/setup.sh"
                 % (f, GUEST_DIR))
    if not os.path.exists("/usr/bin/qemu-system-x86_64"):
        fail("qemu-system-x86_64 is missing: run scripts/setup.sh")
    work = make_tmpdir("coco-e2e-pod-")
    runner = Runner(work)
    reg = Registry(name="pod").start()
    layout = os.path.join(work, "layout")
    write_oci_image(layout, "plain", [busybox_rootfs_entries("hello from the pod\n")])
    write_oci_image(layout, "secret", [busybox_rootfs_entries("a secret message\n")])
    write_oci_image(layout, "unsigned", [busybox_rootfs_entries("nobody signed me\n")])
    push_layout(layout, "plain", reg, "pod/plain:v1")
    push_layout(layout, "secret", reg, "pod/secret:v1")
    push_layout(layout, "unsigned", reg, "pod/unsigned:v1")
    tampered = write_oci_image(layout, "tampered", [busybox_rootfs_entries("tampered with\n")])
    push_layout(layout, "tampered", reg, "pod/tampered:v1")
    plain = "docker://%s/pod/plain:v1" % reg.host

    # --- a layer changed in the registry: the guest's digest check names it, with its code ------
    hexd = tampered["layers"][-1].split(":", 1)[1]
    blob = os.path.join(reg.dir, "data", "docker", "registry", "v2", "blobs", "sha256", hexd[:2],
                        hexd, "data")
    with open(blob, "r+b") as f:
        f.seek(os.path.getsize(blob) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xff]))
    r = runner.run(["docker://%s/pod/tampered:v1" % reg.host])
    check(r.returncode == 125 and b"[DigestMismatch]" in r.stderr and hexd[:12].encode() in r.stderr,
          "a layer changed in the registry: coco run names the layer and the guest's DigestMismatch",
          describe_run(r))

    # --- plain image: output, stderr and exit code relayed -------------------------------------
    r = runner.run(["--timings", plain, "/bin/sh", "-c", "cat /etc/message; echo to-stderr >&2; exit 7"])
    check(r.returncode == 7, "the container's exit code is coco run's", describe_run(r))
    check(r.stdout == b"hello from the pod\n", "the container's stdout is ours", describe_run(r))
    check(b"to-stderr" in r.stderr, "the container's stderr is ours", describe_run(r))
    for phase in (b"vm boot", b"pull", b"unpack", b"first output line", b"qemu peak RSS"):
        check(phase in r.stderr, "--timings reports %s" % phase.decode(), describe_run(r))
    info("plain pod: %.1f s wall" % r.wall)
    r = runner.run(["-q", plain])
    check(r.returncode == 0 and r.stdout == b"hello from the pod\n",
          "without a command the image's Cmd runs", describe_run(r))

    # --- agent policy: exec refused by default, allowed by an init-data policy -----------------
    r = runner.run(["--exec", "echo from-exec", plain, "/bin/sh", "-c", "sleep 3; echo main-done"])
    check(r.returncode == 0 and b"main-done" in r.stdout, "the main process still runs",
          describe_run(r))
    check(b"ExecProcessRequest is blocked by policy" in r.stderr and b"from-exec" not in r.stdout,
          "the default agent policy refuses exec into the container", describe_run(r))
    init_data = os.path.join(work, "init-data.toml")
    with open(init_data, "w") as f:
        f.write(INIT_DATA_ALLOW_EXEC)
    r = runner.run(["--init-data", init_data, "--exec", "echo from-exec", plain, "/bin/sh", "-c",
                    "sleep 3; echo main-done"])
    check(r.returncode == 0 and b"from-exec" in r.stdout and b"main-done" in r.stdout,
          "an init-data policy.rego that allows ExecProcessRequest lets exec run", describe_run(r))
    check(b"policy: init-data policy.rego" in r.stderr, "the agent reports the init-data policy",
          describe_run(r))

    # --- broker: encrypted image ---------------------------------------------------------------
    broker = h.Broker(name="pod").init().start()
    broker.register_reference_values(h.SAMPLE_REFERENCE_VALUES)

    # --- sealed secret (made here with Python's cryptography, independently) -------------------
    signer = ec.generate_private_key(ec.SECP256R1())
    nums = signer.public_key().public_numbers()
    broker.set_resource("default/sealed-key/1", json.dumps({
        "kty": "EC", "crv": "P-256", "x": h.b64u(nums.x.to_bytes(32, "big")),
        "y": h.b64u(nums.y.to_bytes(32, "big"))}).encode())
    broker.set_resource("default/secret/db", b"s3cr3t-from-the-broker")

    def seal(payload, key=signer):
        head = h.b64u(json.dumps({"alg": "ES256", "kid": "kbs:///default/sealed-key/1"}).encode())
        body = h.b64u(json.dumps(payload).encode())
        der = key.sign((head + "." + body).encode(), ec.ECDSA(hashes.SHA256()))
        r_, s_ = decode_dss_signature(der)
        return "sealed.%s.%s.%s" % (head, body, h.b64u(r_.to_bytes(32, "big") +
                                                      s_.to_bytes(32, "big")))
    vault = {"version": "0.1.0", "type": "vault", "provider": "kbs",
             "name": "kbs:///default/secret/db", "provider_settings": {}, "annotations": {}}
    r = runner.run(["--kbs", broker.url, "-e", "DB_PASSWORD=" + seal(vault), plain, "/bin/sh",
                    "-c", "echo $DB_PASSWORD"])
    check(r.returncode == 0 and r.stdout == b"s3cr3t-from-the-broker\n",
          "a sealed secret in the environment is unsealed inside the pod", describe_run(r))
    forged = seal(vault, key=ec.generate_private_key(ec.SECP256R1()))
    r = runner.run(["--kbs", broker.url, "-e", "DB_PASSWORD=" + forged, plain, "/bin/sh", "-c",
                    "echo $DB_PASSWORD"])
    check(r.returncode == 125 and b"DB_PASSWORD" in r.stderr and b"does not verify" in r.stderr,
          "a sealed secret signed by another key is refused", describe_run(r))

    # --- the workload's resource API (upstream's CDH REST path, 127.0.0.1:8006 in the pod) ------
    fetch = ("/bin/busybox wget -q -O - http://127.0.0.1:8006/cdh/resource/default/secret/db; "
             "echo; /bin/busybox wget -q -O - http://127.0.0.1:8006/cdh/resource/default/secret/"
             "none || echo missing-refused; /bin/busybox wget -q -T 3 -O - http://%s/v2/ || "
             "echo tunnel-unreachable" % reg.host)
    r = runner.run(["--kbs", broker.url, plain, "/bin/sh", "-c", fetch])
    check(r.returncode == 0 and
          r.stdout == b"s3cr3t-from-the-broker\nmissing-refused\ntunnel-unreachable\n",
          "the workload gets a broker resource from 127.0.0.1:8006/cdh/resource, a missing one "
          "is an error, and the registry behind the tunnel is out of its reach", describe_run(r))

    enc = "docker://%s/pod/secret:enc" % reg.host
    r = subprocess.run([cli_bin(), "image", "encrypt", "docker://%s/pod/secret:v1" % reg.host, enc,
                        "--recipient", "provider:coco:kbs:///default/image-kek/pod", "--kbs",
                        broker.url, "--admin-token", broker.admin_token_path],
                       capture_output=True, timeout=120)
    check(r.returncode == 0, "coco image encrypt stores the KEK in the broker", describe_run(r))
    kid = [w for w in r.stdout.decode().split() + r.stderr.decode().split()
           if w.startswith("kbs:///default/image-kek/pod-")]
    check(len(kid) >= 1, "the encrypt command names the KEK id", describe_run(r))
    kid = kid[0].rstrip(".,)")
    r = runner.run(["--kbs", broker.url, "--timings", enc])
    check(r.returncode == 0 and r.stdout == b"a secret message\n",
          "the encrypted image is decrypted inside the pod after attestation", describe_run(r))
    check(b"attestation" in r.stderr, "--timings reports the attestation phase", describe_run(r))
    r = runner.run([enc])
    check(r.returncode == 125 and b"--kbs" in r.stderr,
          "without a broker the encrypted image is refused", describe_run(r))

    broker.set_resource_policy(h.DENY_ALL_POLICY)
    r = runner.run(["--kbs", broker.url, enc])
    check(r.returncode == 125 and kid.encode() in r.stderr and b"PolicyDeny" in r.stderr,
          "a resource policy that denies: the pod fails with the broker's reason and the key id",
          describe_run(r))
    check(b"[PolicyDenied]" in r.stderr,
          "the guest's error code crosses ttrpc: the host names it PolicyDenied", describe_run(r))
    broker.set_resource_policy(h.ALLOW_ALL_POLICY)
    broker.delete_resource(kid[len("kbs:///"):])
    r = runner.run(["--kbs", broker.url, enc])
    check(r.returncode == 125 and kid.encode() in r.stderr and b"did not release" in r.stderr,
          "a KEK missing from the broker: the pod fails naming the key id", describe_run(r))
    check(b"a secret message" not in r.stdout, "no plaintext came out", describe_run(r))

    # --- signed image under a signedBy policy from the broker ----------------------------------
    home, pub = gpg_home(work, "gpg", "alice@example.test")
    h.at_exit(lambda failed: kill_agent(home))
    lookaside = os.path.join(work, "lookaside")
    os.makedirs(lookaside)
    signer_regd = os.path.join(work, "registries.d-signer")
    os.makedirs(signer_regd)
    with open(os.path.join(signer_regd, "default.yaml"), "w") as f:
        f.write("default-docker:\n  lookaside-staging: file://%s\n" % lookaside)
    signed = "docker://%s/pod/signed:v1" % reg.host
    s = subprocess.run(["/usr/bin/skopeo", "--insecure-policy", "copy", "--registries.d",
                        signer_regd, "--src-tls-verify=false", "--dest-tls-verify=false",
                        "--sign-by", "alice@example.test", plain, signed],
                       capture_output=True, env=dict(os.environ, GNUPGHOME=home), timeout=300)
    check(s.returncode == 0, "skopeo signs the image into the lookaside store",
          s.stderr.decode(errors="replace")[-600:])
    port = serve_dir(lookaside)
    pod_regd = os.path.join(work, "registries.d-pod")
    os.makedirs(pod_regd)
    with open(os.path.join(pod_regd, "default.yaml"), "w") as f:
        f.write("default-docker:\n  lookaside: http://127.0.0.1:%d\n" % port)
    with open(pub, "rb") as f:
        broker.set_resource("default/keys/alice", f.read())
    broker.set_resource("default/security-policy/test", json.dumps({
        "default": [{"type": "reject"}],
        "transports": {"docker": {
            "%s/pod/signed" % reg.host: [{"type": "signedBy", "keyType": "GPGKeys",
                                          "keyPath": "kbs:///default/keys/alice"}],
            "%s/pod/unsigned" % reg.host: [{"type": "signedBy", "keyType": "GPGKeys",
                                            "keyPath": "kbs:///default/keys/alice"}]}}}))
    common = ["--kbs", broker.url, "--policy", "kbs:///default/security-policy/test",
              "--registries.d", pod_regd]
    r = runner.run(common + [signed])
    check(r.returncode == 0 and r.stdout == b"hello from the pod\n",
          "a GPG-signed image passes a signedBy policy held by the broker", describe_run(r))
    check(b"signature policy satisfied" in r.stderr, "the pod reports the signature check",
          describe_run(r))
    r = runner.run(common + ["docker://%s/pod/unsigned:v1" % reg.host])
    check(r.returncode == 125 and b"signature" in r.stderr.lower() and
          b"nobody signed me" not in r.stdout,
          "an unsigned image is refused under the signing policy", describe_run(r))

    # --- robustness -----------------------------------------------------------------------------
    p = runner.popen([plain, "/bin/sh", "-c", "echo started; sleep 60"])
    deadline = time.time() + 120
    line = b""
    while time.time() < deadline and b"started" not in line:
        line = p.stdout.readline()
        if not line and p.poll() is not None:
            break
    check(b"started" in line, "the long-running container started")
    qemus = qemu_pids_under(runner.run_root)
    check(len(qemus) == 1, "one QEMU runs for the pod", qemus)
    os.kill(qemus[0], signal.SIGKILL)
    try:
        _, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        fail("coco run did not notice that QEMU was killed")
    check(p.returncode == 125 and b"ended unexpectedly" in err,
          "killing QEMU mid-run: coco run reports it and exits 125", err.decode(errors="replace"))

    dead_port = h.free_port()
    r = runner.run(["--kbs", "http://127.0.0.1:%d" % dead_port, enc], timeout=180)
    check(r.returncode == 125 and b"127.0.0.1:%d" % dead_port in r.stderr,
          "an unreachable broker: a clear error naming it", describe_run(r))
    check(r.wall < 90, "... after bounded retries (%.1f s)" % r.wall)

    dirs, pids = runner.leftovers()
    check(dirs == [] and pids == [], "no run directory and no QEMU are left behind",
          (dirs, pids))
    info("all pod checks passed")


if __name__ == "__main__":
    run_main(main)
