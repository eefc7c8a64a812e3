#!/usr/bin/python3
"""Peak memory of drift measurement as the sample count grows (10, 100, 1000).

Builds a model with a large output (512 KiB per sample, so 1000 samples' reference outputs would
take 512 MiB if they were all kept in memory) and a small one (tiny_cnn), then runs
`compressor eval` (streams every sample) and `compressor optimize` (keeps the original's outputs
for the comparison after every pass: in memory up to 64 MiB, in a temporary file beyond) with
--samples N, and prints each process's peak RSS (getrusage of the child).

Usage: /usr/bin/python3 bench/drift_memory.py BUILD_DIR [COUNTS...]   (default 10 100 1000)
"""
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def wide_model(path, width=131072):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, width])
    scale = numpy_helper.from_array(np.linspace(0.5, 1.5, width, dtype=np.float32), "s")
    g = helper.make_graph([helper.make_node("Mul", ["x", "s"], ["y"], name="scale")], "wide",
                          [x], [y], [scale])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


def peak_rss_mib(cmd):
    """Runs cmd in a fresh child and returns (peak RSS in MiB, seconds)."""
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execv(cmd[0], cmd)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("failed: " + " ".join(cmd))
    return usage.ru_maxrss / 1024.0, time.monotonic() - start


def main():
    build = sys.argv[1]
    counts = [int(c) for c in sys.argv[2:]] or [10, 100, 1000]
    binary = os.path.join(build, "tools/compressor/compressor")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tmp = tempfile.mkdtemp()
    wide = os.path.join(tmp, "wide.onnx")
    wide_model(wide)
    cnn = os.path.join(repo, "models/tiny_cnn/model.onnx")
    out = os.path.join(tmp, "out.onnx")
    rows = []
    for label, model, cmd in [
        ("eval wide (512 KiB/sample)", wide, ["eval", wide, wide]),
        ("optimize wide (512 KiB/sample)", wide,
         ["optimize", wide, "-o", out, "--passes", "quantize-weights"]),
        ("eval tiny_cnn", cnn, ["eval", cnn, cnn]),
        ("optimize tiny_cnn", cnn, ["optimize", cnn, "-o", out, "--passes",
                                    "prune-magnitude,quantize-weights"]),
    ]:
        row = [label]
        for n in counts:
            rss, secs = peak_rss_mib([binary, "-q"] + cmd + ["--samples", str(n), "--threads", "1"]
                                     if cmd[0] == "eval" else
                                     [binary, "-q"] + cmd + ["--samples", str(n)])
            row.append(f"{rss:.0f} MiB ({secs:.1f} s)")
        rows.append(row)
    print("| run | " + " | ".join(f"--samples {n}" for n in counts) + " |")
    print("|---|" + "---|" * len(counts))
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
