#!/usr/bin/env python3
"""make_profile.py — writes pprof profile.proto files for the CLI tests,
from a JSON description (so expected values can be derived by hand), or a
big synthetic one.  An independent encoder: it shares no code with cli/.

  make_profile.py spec SPEC.json OUT      (gzip unless "gzip": false)
  make_profile.py big SAMPLES OUT         SAMPLES samples over 1000 stacks

Spec: {"sample_types": [["alloc_space","bytes"], ...], "default": NAME,
 "functions": [{"name", "file", "start"}...]            (ids 1..n)
 "mappings": [{"file"}...]                               (ids 1..n)
 "locations": [{"address", "mapping", "lines": [[function_id, line]...]}]
 "samples": [{"stack": [location ids, leaf first], "values": [...],
              "labels": {"k": "v"}, "numlabels": {"k": n}}],
 "packed": true}
"""
import gzip
import json
import sys


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wire):
    return varint((field << 3) | wire)


def f_varint(field, n):
    return key(field, 0) + varint(n)


def f_bytes(field, data):
    return key(field, 2) + varint(len(data)) + data


class Strings:
    def __init__(self):
        self.table = [""]
        self.index = {"": 0}

    def __call__(self, s):
        if s not in self.index:
            self.index[s] = len(self.table)
            self.table.append(s)
        return self.index[s]


def repeated(field, values, packed):
    if packed:
        return f_bytes(field, b"".join(varint(v) for v in values)) if values else b""
    return b"".join(f_varint(field, v) for v in values)


def encode(spec):
    s = Strings()
    out = bytearray()
    packed = spec.get("packed", True)
    for t, u in spec["sample_types"]:
        out += f_bytes(1, f_varint(1, s(t)) + f_varint(2, s(u)))
    for sample in spec["samples"]:
        body = repeated(1, sample["stack"], packed) + repeated(2, sample["values"], packed)
        for k, v in sample.get("labels", {}).items():
            body += f_bytes(3, f_varint(1, s(k)) + f_varint(2, s(v)))
        for k, v in sample.get("numlabels", {}).items():
            body += f_bytes(3, f_varint(1, s(k)) + f_varint(3, v))
        out += f_bytes(2, body)
    for i, m in enumerate(spec.get("mappings", []), 1):
        out += f_bytes(3, f_varint(1, i) + f_varint(2, 0x400000 * i) + f_varint(3, 0x400000 * i + 0x100000)
                       + f_varint(5, s(m["file"])))
    for i, loc in enumerate(spec["locations"], 1):
        body = f_varint(1, i) + f_varint(3, loc.get("address", 0x1000 + i))
        if loc.get("mapping"):
            body += f_varint(2, loc["mapping"])
        for fn, line in loc.get("lines", []):
            body += f_bytes(4, f_varint(1, fn) + f_varint(2, line))
        out += f_bytes(4, body)
    for i, fn in enumerate(spec["functions"], 1):
        out += f_bytes(5, f_varint(1, i) + f_varint(2, s(fn["name"])) + f_varint(3, s(fn["name"]))
                       + f_varint(4, s(fn.get("file", ""))) + f_varint(5, fn.get("start", 0)))
    if "period_type" in spec:
        t, u = spec["period_type"]
        out += f_bytes(11, f_varint(1, s(t)) + f_varint(2, s(u)))
        out += f_varint(12, spec.get("period", 1))
    default = spec.get("default")
    if default:
        out += f_varint(14, s(default))
    # the string table last: readers must not depend on field order
    for text in s.table:
        out += f_bytes(6, text.encode())
    return bytes(out)


def big(samples):
    """SAMPLES samples over 1000 distinct 8-deep stacks of 100 functions."""
    functions = [{"name": "fn%03d" % i, "file": "big.c", "start": i * 10} for i in range(100)]
    locations = [{"lines": [[i // 3 + 1, 10 + i % 3]]} for i in range(300)]
    spec = {"sample_types": [["alloc_objects", "count"], ["alloc_space", "bytes"],
                             ["inuse_objects", "count"], ["inuse_space", "bytes"]],
            "functions": functions, "locations": locations, "samples": []}
    s = Strings()
    head = bytearray(encode(dict(spec, samples=[])))
    body = bytearray()
    stacks = []
    for k in range(1000):
        stacks.append(b"".join(varint((k * 7 + d * 31) % 300 + 1) for d in range(8)))
    for i in range(samples):
        stack = stacks[i % 1000]
        v = (i % 13) + 1
        values = varint(v) + varint(v * 64) + varint(v & 1) + varint((v & 1) * 64)
        sample = key(1, 2) + varint(len(stack)) + stack + key(2, 2) + varint(len(values)) + values
        body += key(2, 2) + varint(len(sample)) + sample
    return bytes(head + body)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("spec", "big"):
        sys.exit(__doc__)
    if sys.argv[1] == "spec":
        with open(sys.argv[2]) as f:
            spec = json.load(f)
        data = encode(spec)
        if spec.get("gzip", True):
            data = gzip.compress(data)
    else:
        data = gzip.compress(big(int(sys.argv[2])), compresslevel=1)
    with open(sys.argv[3], "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
