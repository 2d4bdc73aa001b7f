#!/usr/bin/python3
"""A pod VM with a TPM (`coco run --tpm-state`, swtpm behind QEMU's tpm-tis): the agent measures
init-data into PCR 8 and the kernel command line into PCR 11, then attests with real TPM quotes
to a real coco-kbs that is not in development mode.

  * the attestation key is learnt from the same TPM state on the host (`coco attest --tee tpm`
    against swtpm over TCP), as an operator would enrol it;
  * a pod whose PCR 11 is not a reference value attests but is refused the resource;
  * with its PCR 11 registered, the VM's quote verifies and the resource is released;
  * a pod booted with another kernel command line (a changed measured component) is refused.

Env: COCO_CLI, COCO_KBS, COCO_GUEST_DIR.
"""

import hashlib
import json
import os
import re
import subprocess
import time

import kbs_harness as h
from kbs_harness import check, cli_bin, describe_run, fail, make_tmpdir, run_main
from image_harness import Registry, busybox_rootfs_entries, push_layout, require_tools, \
    write_oci_image
from pod_test import INIT_DATA_ALLOW_EXEC, Runner
from tpm_test import free_port_pair

GUEST_DIR = os.environ.get("COCO_GUEST_DIR", "")
SECRET = b"released to the pod's TPM"


def learn_ak(state_dir, broker):
    """The attestation key the pod's TPM will use: the same state, on the host."""
    port = free_port_pair()
    swtpm = subprocess.Popen(
        ["swtpm", "socket", "--tpmstate", "dir=" + state_dir, "--tpm2",
         "--server", "type=tcp,port=%d,bindaddr=127.0.0.1" % port,
         "--ctrl", "type=tcp,port=%d,bindaddr=127.0.0.1" % (port + 1),
         "--flags", "not-need-init,startup-clear"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while True:
            r = subprocess.run([cli_bin(), "attest", "--kbs", broker.url, "--tee", "tpm",
                                "--tpm-tcti", "swtpm:host=127.0.0.1,port=%d" % port],
                               capture_output=True, timeout=120)
            if r.returncode == 0 or time.time() > deadline:
                break
            time.sleep(0.2)
        if r.returncode != 0:
            fail("coco attest --tee tpm on the pod's TPM state: %s" % r.stderr.decode()[-300:])
        claims = json.loads(h.b64u_dec(r.stdout.decode().strip().split(".")[1]))
        return claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"]["tpm"]["ak_public"]
    finally:
        swtpm.terminate()
        swtpm.wait(timeout=10)


def swtpm_under(pid, root):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            cmd = f.read()
    except OSError:
        return False
    return cmd.startswith(b"swtpm") and root.encode() in cmd


def main():
    require_tools()
    for f in ("vmlinux", "rootfs.img"):
        if not GUEST_DIR or not os.path.isfile(os.path.join(GUEST_DIR, f)):
            fail("the guest image (%s) is missing from COCO_GUEST_DIR=%r" % (f, GUEST_DIR))
    work = make_tmpdir("coco-e2e-pod-tpm-")
    runner = Runner(work)
    reg = Registry(name="podtpm").start()
    layout = os.path.join(work, "layout")
    write_oci_image(layout, "plain", [busybox_rootfs_entries("hello\n")])
    push_layout(layout, "plain", reg, "pod/plain:v1")
    image = "docker://%s/pod/plain:v1" % reg.host
    init_data = os.path.join(work, "init-data.toml")
    with open(init_data, "w") as f:
        f.write(INIT_DATA_ALLOW_EXEC)

    broker = h.Broker(name="podtpm", dev=False).init().start()
    broker.set_resource("default/app/secret", SECRET)
    state = os.path.join(work, "tpm-state")
    os.makedirs(state, mode=0o700)
    ak = learn_ak(state, broker)
    broker.register_reference_values({"trusted_aks": [ak]})

    fetch = ("/bin/busybox wget -q -O - http://127.0.0.1:8006/cdh/resource/default/app/secret "
             "|| echo refused")

    def pod(*extra):
        return runner.run(["--kbs", broker.url, "--tpm-state", state, "--init-data", init_data,
                           *extra, image, "/bin/sh", "-c", fetch])

    # 1. PCR 11 unknown to the broker: a token, but not an affirming one.
    r = pod()
    check(r.returncode == 0 and r.stdout == b"refused\n",
          "a pod whose PCR 11 is not a reference value is refused the resource", describe_run(r))
    m11 = re.search(rb"measured into TPM PCR 11: sha256 ([0-9a-f]{64})", r.stderr)
    m8 = re.search(rb"measured into TPM PCR 8: sha256 ([0-9a-f]{64})", r.stderr)
    check(m11 is not None and m8 is not None,
          "coco run reports what the guest measured into PCRs 8 and 11", describe_run(r))
    if m11 is None:
        fail("no PCR 11 measurement reported")
    pcr11 = hashlib.sha256(b"\0" * 32 + bytes.fromhex(m11.group(1).decode())).hexdigest()

    # 2. Registered: the VM's TPM quote verifies at the broker and the resource is released.
    broker.register_reference_values({"tpm_pcr11": [pcr11], "trusted_aks": [ak]})
    r = pod()
    check(r.returncode == 0 and r.stdout == SECRET,
          "the VM's TPM quote verifies at the broker and the resource is released",
          describe_run(r))

    # 3. Another kernel command line: PCR 11 moves and the resource is refused.
    r = pod("--kernel-arg", "coco.changed=1")
    check(r.returncode == 0 and r.stdout == b"refused\n",
          "a pod booted with another kernel command line (PCR 11 changed) is refused",
          describe_run(r))
    runs, qemus = runner.leftovers()
    swtpms = [p for p in os.listdir("/proc") if p.isdigit() and swtpm_under(p, runner.run_root)]
    check(not runs and not qemus and not swtpms, "no run directory, QEMU or swtpm is left behind",
          "%s %s %s" % (runs, qemus, swtpms))


if __name__ == "__main__":
    run_main(main)
