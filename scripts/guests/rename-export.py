#!/usr/bin/env python3
"""rename-export.py IN OLD NEW OUT: renames a top-level export of a
WebAssembly component (only its name: indices, types and the core module
are untouched).

Used by python.sh: componentize-py cannot build a world that exports a
function named `poll`, because its core export `poll` collides with
wasi-libc's `poll` when componentize-py links its libraries ("one or more
duplicate items detected when collecting into set or map"). So the Python
poller is built against a copy of the world whose export is renamed, and the
component's export is renamed back to `poll` here.
"""
import sys


def leb_u32(b: bytes, i: int):
    r = s = 0
    while True:
        x = b[i]
        i += 1
        r |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return r, i


def enc_u32(n: int) -> bytes:
    out = bytearray()
    while True:
        x = n & 0x7F
        n >>= 7
        out.append(x | (0x80 if n else 0))
        if not n:
            return bytes(out)


def name(s: str) -> bytes:
    raw = s.encode()
    return b"\x00" + enc_u32(len(raw)) + raw


def main() -> None:
    src, old, new, dst = sys.argv[1:]
    b = open(src, "rb").read()
    if b[:4] != b"\0asm" or b[4:8] != b"\x0d\x00\x01\x00":
        sys.exit(f"{src}: not a component")
    out = bytearray(b[:8])
    i, hits = 8, 0
    while i < len(b):
        sid = b[i]
        size, j = leb_u32(b, i + 1)
        body = b[j : j + size]
        if sid == 11:  # component export section
            n = body.count(name(old))
            if n > 1:
                sys.exit(f"{src}: ambiguous export section")
            if n == 1:
                body = body.replace(name(old), name(new))
                hits += 1
        out += bytes([sid]) + enc_u32(len(body)) + body
        i = j + size
    if hits != 1:
        sys.exit(f"{src}: no top-level export named {old}")
    open(dst, "wb").write(out)


main()
