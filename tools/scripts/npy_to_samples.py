#!/usr/bin/python3
"""Splits batched .npy arrays into compressor's sample-folder layout.

    npy_to_samples.py OUT_DIR NAME=FILE.npy [NAME=FILE.npy ...] [--reshape NAME=D0,D1,...]
                      [--start N] [--count N]

Each FILE holds one array whose first axis runs over samples. Sample i becomes the folder
OUT_DIR/sample_<i>/ with NAME.npy holding that sample with a leading batch axis of 1 (or the
shape given by --reshape). Use the folder with `compressor ... --data OUT_DIR`.
"""
import argparse
import os
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("inputs", nargs="+", help="NAME=FILE.npy")
    ap.add_argument("--reshape", action="append", default=[], help="NAME=D0,D1,... per sample")
    ap.add_argument("--start", type=int, default=0, help="skip the first N samples")
    ap.add_argument("--count", type=int, default=0, help="only N samples")
    args = ap.parse_args()
    shapes = {}
    for spec in args.reshape:
        name, _, dims = spec.partition("=")
        shapes[name] = tuple(int(d) for d in dims.split(","))
    arrays = {}
    for spec in args.inputs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            sys.exit(f"error: '{spec}': expected NAME=FILE.npy")
        arrays[name] = np.load(path, allow_pickle=False)
    counts = {a.shape[0] for a in arrays.values()}
    if len(counts) != 1:
        sys.exit("error: the arrays have different sample counts: " + str(sorted(counts)))
    n = counts.pop()
    first = min(args.start, n)
    last = min(n, first + args.count) if args.count else n
    width = len(str(max(last - 1, 0)))
    for i in range(first, last):
        folder = os.path.join(args.out_dir, f"sample_{i:0{width}d}")
        os.makedirs(folder, exist_ok=True)
        for name, a in arrays.items():
            x = a[i : i + 1]
            if name in shapes:
                x = x.reshape(shapes[name])
            np.save(os.path.join(folder, name.replace("/", "_") + ".npy"), np.ascontiguousarray(x))
    print(f"{last - first} samples in {args.out_dir}")


if __name__ == "__main__":
    main()
