#!/usr/bin/env python3
"""Compare two output folders of learning-curves (a demo folder, a sweep, a report) file by file.

    python3 scripts/compare_outputs.py OLD NEW

Every file under either folder is reported as identical (byte for byte), only in one side, or different; for a
different file it says how: for a float .npy (curve files, smoothed curves) how many values differ and by how much at
most; for a .csv which columns differ, which are new and which are gone; for a .json which top-level keys (or, for a
list of records, which fields) differ. Paths written inside the files are compared as they are, so run both sides at
the same output path when byte identity is the question (the demo writes absolute paths into its manifests).
Standard library only. Exit status 0 when every file is identical, 1 otherwise, 2 on bad arguments.
"""

import ast
import csv
import json
import os
import struct
import sys

TIMING_COLUMNS = {"seconds"}


def npy(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        raise ValueError("not a .npy file")
    major = data[6]
    if major == 1:
        (hlen,) = struct.unpack("<H", data[8:10])
        start = 10
    else:
        (hlen,) = struct.unpack("<I", data[8:12])
        start = 12
    header = ast.literal_eval(data[start:start + hlen].decode("latin1"))
    body = data[start + hlen:]
    codes = {"<f4": "f", "<f8": "d", "<i8": "q", "<i4": "i"}
    code = codes.get(header["descr"])
    if code is None:
        return header, None
    n = len(body) // struct.calcsize(code)
    return header, struct.unpack(f"<{n}{code}", body[: n * struct.calcsize(code)])


def describe_npy(a, b):
    ha, va = npy(a)
    hb, vb = npy(b)
    if ha["descr"] != hb["descr"] or tuple(ha["shape"]) != tuple(hb["shape"]):
        return f"header {ha['descr']} {tuple(ha['shape'])} vs {hb['descr']} {tuple(hb['shape'])}"
    if va is None:
        return f"dtype {ha['descr']}: contents differ"
    diffs = [abs(x - y) for x, y in zip(va, vb) if not (x == y or (x != x and y != y))]
    nan_mismatch = sum(1 for x, y in zip(va, vb) if (x != x) != (y != y))
    finite = [d for d in diffs if d == d]
    worst = max(finite) if finite else 0.0
    text = f"{len(diffs)} of {len(va)} values differ, max |difference| {worst:.3g}"
    if nan_mismatch:
        text += f", {nan_mismatch} NaN in one side only"
    return text


def describe_csv(a, b):
    with open(a, newline="", encoding="utf-8") as f:
        ra = list(csv.reader(f))
    with open(b, newline="", encoding="utf-8") as f:
        rb = list(csv.reader(f))
    if not ra or not rb:
        return "one side is empty"
    ca, cb = ra[0], rb[0]
    parts = []
    new = [c for c in cb if c not in ca]
    gone = [c for c in ca if c not in cb]
    if new:
        parts.append("new columns " + ", ".join(new))
    if gone:
        parts.append("columns gone " + ", ".join(gone))
    if len(ra) != len(rb):
        parts.append(f"{len(ra) - 1} vs {len(rb) - 1} rows")
    else:
        changed, timing = [], []
        for c in ca:
            if c not in cb:
                continue
            i, j = ca.index(c), cb.index(c)
            if any(x[i] != y[j] for x, y in zip(ra[1:], rb[1:])):
                (timing if c in TIMING_COLUMNS else changed).append(c)
        if changed:
            parts.append("values differ in " + ", ".join(changed))
        if timing:
            parts.append("wall-clock columns differ (" + ", ".join(timing) + ")")
        if not changed and not timing and not new and not gone and ca != cb:
            parts.append("column order differs")
    return "; ".join(parts) if parts else "same cells, different bytes (quoting or line ends)"


def json_paths(x, y, at, out):
    if isinstance(x, dict) and isinstance(y, dict):
        for k in sorted(set(x) | set(y)):
            where = f"{at}.{k}" if at else k
            if k not in x:
                out.add(f"+{where}")
            elif k not in y:
                out.add(f"-{where}")
            else:
                json_paths(x[k], y[k], where, out)
    elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        for p, q in zip(x, y):
            json_paths(p, q, f"{at}[]", out)
    elif x != y:
        out.add(at or "(whole document)")


def describe_json(a, b):
    with open(a, encoding="utf-8") as f:
        ja = json.load(f)
    with open(b, encoding="utf-8") as f:
        jb = json.load(f)
    out = set()
    json_paths(ja, jb, "", out)
    if not out:
        return "same values, different bytes (formatting)"
    added = sorted(p[1:] for p in out if p.startswith("+"))
    gone = sorted(p[1:] for p in out if p.startswith("-"))
    changed = sorted(p for p in out if p[0] not in "+-")

    def some(xs):
        return ", ".join(xs[:6]) + (f" and {len(xs) - 6} more" if len(xs) > 6 else "")

    parts = []
    if changed:
        parts.append(f"{len(changed)} values differ ({some(changed)})")
    if added:
        parts.append(f"{len(added)} new ({some(added)})")
    if gone:
        parts.append(f"{len(gone)} gone ({some(gone)})")
    return "; ".join(parts)


def describe(a, b):
    try:
        if a.endswith(".npy"):
            return describe_npy(a, b)
        if a.endswith(".csv"):
            return describe_csv(a, b)
        if a.endswith(".json"):
            return describe_json(a, b)
    except (ValueError, KeyError, json.JSONDecodeError, UnicodeDecodeError, struct.error) as e:
        return f"differs (could not compare contents: {e})"
    return f"differs ({os.path.getsize(a)} vs {os.path.getsize(b)} bytes)"


def files(root):
    found = set()
    for dirpath, _, names in os.walk(root):
        for n in names:
            found.add(os.path.relpath(os.path.join(dirpath, n), root))
    return found


def same_bytes(a, b):
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def main(argv):
    if len(argv) != 3 or not all(os.path.isdir(p) for p in argv[1:]):
        print("usage: compare_outputs.py OLD_FOLDER NEW_FOLDER (two existing folders)", file=sys.stderr)
        return 2
    old, new = argv[1], argv[2]
    fo, fn = files(old), files(new)
    identical = 0
    lines = []
    for rel in sorted(fo | fn):
        if rel not in fn:
            lines.append(f"only in {old}: {rel}")
        elif rel not in fo:
            lines.append(f"only in {new}: {rel}")
        elif same_bytes(os.path.join(old, rel), os.path.join(new, rel)):
            identical += 1
        else:
            lines.append(f"differs: {rel}: {describe(os.path.join(old, rel), os.path.join(new, rel))}")
    for line in lines:
        print(line)
    print(f"{identical} identical, {len(lines)} not ({len(fo & fn)} files on both sides)")
    return 0 if not lines else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
