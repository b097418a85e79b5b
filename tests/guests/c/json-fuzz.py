#!/usr/bin/env python3
"""Differential test of examples/wasm/c-poller/json.c against Python's json:
builds json_dump.c natively with cc and ASan/UBSan, feeds it generated and
mutated texts, and compares what both read (validity, structure, unescaped
strings, numbers as doubles). Run from anywhere: python3 tests/guests/c/json-fuzz.py [SEED] [N]

Known, intended differences not generated here: json.c refuses nesting deeper
than JSON_MAX_DEPTH (256); it reads a lone surrogate escape as U+FFFD.
"""
import json
import os
import random
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../../.."))
SRC = os.path.join(ROOT, "examples/wasm/c-poller")
BIN = os.path.join(ROOT, "target/guest-tools/json_dump")


class Pairs:
    def __init__(self, pairs):
        self.pairs = pairs


def utf8(s):
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in s).encode()


def dump(v):
    if v is True:
        return "T"
    if v is False:
        return "F"
    if v is None:
        return "Z"
    if isinstance(v, Pairs):
        return "{" + ",".join("K" + utf8(k).hex() + ":" + dump(x) for k, x in v.pairs) + "}"
    if isinstance(v, list):
        return "[" + ",".join(dump(x) for x in v) + "]"
    if isinstance(v, str):
        return "S" + utf8(v).hex()
    return "N%.17g" % v


def refuse(_):
    raise ValueError("not JSON")


def python_reads(text):
    try:
        return dump(json.loads(text, object_pairs_hook=Pairs, parse_int=float, parse_constant=refuse))
    except (ValueError, RecursionError):
        return "INVALID"


ATOMS = ['0', '-0', '1.5', '-12e3', '1E+2', '0.000001', '123456789012345678901234567890', '"a"',
         '"\\u00e9\\ud83d\\ude00"', '"\\ud800x"', '"\\n\\t\\"\\\\\\/"', 'true', 'false', 'null', '"é"',
         '01', '1.', '.5', '-', '+1', '"\x01"', 'tru', 'nul', '"\\x"', '"\\u12g4"', 'NaN', 'Infinity', '1e400']


def gen(depth=0):
    r = random.random()
    if depth > 4 or r < 0.4:
        return random.choice(ATOMS)
    if r < 0.7:
        return "[" + ",".join(gen(depth + 1) for _ in range(random.randint(0, 3))) + "]"
    keys = ['"a"', '"b"', '"\\u0061"', '"k"']
    return "{" + ",".join("%s:%s" % (random.choice(keys), gen(depth + 1)) for _ in range(random.randint(0, 3))) + "}"


def mutate(s):
    s = list(s)
    for _ in range(random.randint(0, 2)):
        i = random.randint(0, len(s))
        if random.random() < 0.5 and s:
            del s[min(i, len(s) - 1)]
        else:
            s.insert(i, random.choice(' \t\n{}[],:"\\0e.-'))
    return "".join(s)


def main():
    random.seed(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    os.makedirs(os.path.dirname(BIN), exist_ok=True)
    subprocess.run(["cc", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                    "-I" + SRC, os.path.join(HERE, "json_dump.c"), os.path.join(SRC, "json.c"), "-o", BIN], check=True)
    cases = []
    for _ in range(n):
        t = gen()
        if random.random() < 0.3:
            t = mutate(t)
        if random.random() < 0.2:
            t = " " + t + "\n "
        cases.append(t)
    out = subprocess.run([BIN], input="".join(c.encode().hex() + "\n" for c in cases),
                         capture_output=True, text=True, check=True).stdout.split("\n")
    bad = 0
    for c, got in zip(cases, out):
        want = python_reads(c)
        if want != got:
            bad += 1
            if bad <= 10:
                print(f"{c!r}\n  python {want}\n  json.c {got}")
    print(f"{n - bad} passed, {bad} failed")
    sys.exit(1 if bad else 0)


main()
