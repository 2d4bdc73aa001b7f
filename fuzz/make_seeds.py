#!/usr/bin/env python3
"""Writes the binary seeds: tar layers (corpus/oci_unpack) and compressed streams
(corpus/oci_decompress). Run from anywhere: python3 fuzz/make_seeds.py. Needs the zstd CLI.
Tars end right after their end-of-archive blocks (no padding to 10 KiB) to stay small."""
import gzip, io, os, struct, subprocess, tarfile, zlib

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def entry(tf, name, kind=tarfile.REGTYPE, data=b"", link="", mode=0o644, pax=None):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime, ti.linkname = kind, mode, 1600000000, link
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        ti.devmajor, ti.devminor = 1, 3
    if pax:
        ti.pax_headers = pax
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    tf.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def make_tar(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, kw in entries:
            entry(tf, name, **kw)
        end = tf.offset  # where the end-of-archive blocks start
    return buf.getvalue()[: end + 1024]


def F(name, data=b"x", **kw): return (name, dict(data=data, **kw))
def D(name, mode=0o755): return (name, dict(kind=tarfile.DIRTYPE, mode=mode))
def S(name, target): return (name, dict(kind=tarfile.SYMTYPE, link=target))
def H(name, target): return (name, dict(kind=tarfile.LNKTYPE, link=target))


# One refusal per tar where possible: unpacking stops at the first refused entry.
TARS = {
    "basic.tar": [D("usr"), D("usr/bin"), F("usr/bin/sh", b"#!/bin/sh\n", mode=0o4755),
                  S("bin", "usr/bin"), H("usr/bin/ash", "usr/bin/sh"),
                  F("etc/hosts", b"127.0.0.1 localhost\n", pax={"SCHILY.xattr.user.x": "1"}),
                  ("run/fifo", dict(kind=tarfile.FIFOTYPE)), F("./d/" + "n" * 150, b"long")],
    "devices.tar": [("dev/null", dict(kind=tarfile.CHRTYPE, mode=0o666)),
                    ("dev/sda", dict(kind=tarfile.BLKTYPE, mode=0o660)),
                    ("dev/fifo", dict(kind=tarfile.FIFOTYPE))],
    "dotdot.tar": [F("./ok/../ok2"), F("/top/ok3"), F("../evil")],
    "dotdot_nested.tar": [F("a/../../evil")],
    "abs_symlink.tar": [S("s", "/etc"), F("s/passwd", b"pwned")],
    "relative_escape_symlink.tar": [S("up2", "../../.."), F("up2/x")],
    "in_root_symlink.tar": [D("a"), S("a/rel", "../etc"), F("a/rel/new"), S("a/l2", "../lib"),
                            F("a/l2/x")],
    "hardlink_dotdot.tar": [H("h1", "../outside/secret")],
    "hardlink_abs.tar": [H("h5", "/etc/passwd"), H("h2", "/../outside/secret")],
    "hardlink_via_lower_symlink.tar": [H("h3", "etc/out/secret")],
    "hardlink_missing.tar": [H("h4", "missing")],
    "whiteouts.tar": [F("usr/lib/.wh.libc.so", b""), F("opq/.wh..wh..opq", b""), F("opq/new"),
                      F(".wh.lib", b""), F(".wh.abs", b""), F("new/.wh.ghost", b""),
                      F("up/.wh.b", b"")],
    "whiteout_dotdot.tar": [F("etc/.wh...", b"")],
    "whiteout_dot.tar": [F(".wh..", b"")],
    "lower_symlinks.tar": [F("lib/newlib.so"), D("lib/dir"), S("etc/passwd", "../../outside/secret"),
                           F("etc/passwd", b"replaces the symlink, not its target")],
    "lower_abs_symlink.tar": [F("abs/tmp/x")],
    "lower_escape_symlink.tar": [F("etc/out/secret", b"over")],
    "replace.tar": [F("etc", b"dir becomes file"), D("lib"), S("opq", "/"), F("opq/x/f")],
    "symlink_loop.tar": [S("loop", "loop"), F("loop/x")],
}


def write(sub, name, data):
    os.makedirs(os.path.join(CORPUS, sub), exist_ok=True)
    with open(os.path.join(CORPUS, sub, name), "wb") as f:
        f.write(data)
    print(f"{sub}/{name}: {len(data)} bytes")


def zstd(data, *args):
    return subprocess.run(["zstd", "-q", "-c", *args], input=data, capture_output=True,
                          check=True).stdout


def main():
    for name, entries in TARS.items():
        write("oci_unpack", name, make_tar(entries))
    write("oci_unpack", "gnu_longname.tar",
          make_tar([F("g/" + "l" * 120), S("g/" + "s" * 120, "x" * 120)], fmt=tarfile.GNU_FORMAT))

    tar = make_tar(TARS["basic.tar"])
    gz = gzip.compress(tar, mtime=0)
    # Decompress seeds: byte 0 = format (0 gzip, 1 zstd, 2 auto), bytes 1-2 = chunk sizes.
    write("oci_decompress", "gzip.bin", b"\x00\x10\x03" + gz)
    write("oci_decompress", "gzip_two_members_zero_pad.bin",
          b"\x00\x00\x00" + gzip.compress(b"one", mtime=0) + gzip.compress(b"two", mtime=0) + b"\0" * 8)
    header = b"\x1f\x8b\x08\x1e" + b"\0" * 4 + b"\x00\x03"  # FEXTRA|FNAME|FCOMMENT|FHCRC
    header += struct.pack("<H", 4) + b"ab\x00\x00" + b"name\0" + b"comment\0"
    header += struct.pack("<H", zlib.crc32(header) & 0xFFFF)
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = co.compress(b"hello " * 50) + co.flush()
    write("oci_decompress", "gzip_all_header_fields.bin", b"\x00\x05\x01" + header + body +
          struct.pack("<II", zlib.crc32(b"hello " * 50), 300))
    write("oci_decompress", "gzip_truncated.bin", b"\x00\x20\x02" + gz[: len(gz) // 2])
    write("oci_decompress", "gzip_trailing_garbage.bin", b"\x00\x20\x02" + gzip.compress(b"x") + b"junk")
    write("oci_decompress", "zstd.bin", b"\x01\x10\x03" + zstd(tar, "-3"))
    skippable = struct.pack("<II", 0x184D2A50, 4) + b"skip"
    write("oci_decompress", "zstd_two_frames_skippable.bin",
          b"\x01\x00\x00" + zstd(b"one", "--no-check") + skippable + zstd(b"two"))
    write("oci_decompress", "auto_gzip.bin", b"\x02\x01\x01" + gzip.compress(b"auto", mtime=0))
    write("oci_decompress", "auto_plain.bin", b"\x02\x01\x01" + b"\x1fplain, not gzip")


if __name__ == "__main__":
    main()
