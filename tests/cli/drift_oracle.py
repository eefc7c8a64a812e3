#!/usr/bin/python3
"""Independent oracle for the drift CLI test: builds two small models with numpy weights (the
candidate's weights perturbed by a known amount), writes samples and labels, and computes the
expected drift metrics with numpy, straight from the definitions.

    drift_oracle.py make DIR        -> DIR/ref.onnx, DIR/cand.onnx, DIR/big.onnx, DIR/data/, DIR/labels.npy
    drift_oracle.py check DIR REPORT.json   (compares the report's drift with numpy's)
"""
import json
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

N_SAMPLES = 6
IN, CLASSES, FEAT = 16, 12, 8


def weights(seed):
    rng = np.random.RandomState(seed)
    return {
        "w": rng.randn(IN, CLASSES).astype(np.float32) * 0.5,
        "b": rng.randn(CLASSES).astype(np.float32) * 0.1,
        "w2": rng.randn(IN, FEAT).astype(np.float32) * 0.5,
    }


def build(ws, path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", IN])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CLASSES])
    feat = helper.make_tensor_value_info("feat.map", TensorProto.FLOAT, ["batch", FEAT])
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["xw"], name="fc"),
        helper.make_node("Add", ["xw", "b"], ["logits"], name="bias"),
        helper.make_node("MatMul", ["x", "w2"], ["xw2"], name="proj"),
        helper.make_node("Tanh", ["xw2"], ["feat.map"], name="act"),
    ]
    inits = [numpy_helper.from_array(v, k) for k, v in ws.items()]
    g = helper.make_graph(nodes, "drift_test", [x], [logits, feat], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="test")
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)


def forward(ws, x):
    return {"logits": x @ ws["w"] + ws["b"], "feat.map": np.tanh(x @ ws["w2"])}


def samples():
    rng = np.random.RandomState(7)
    return [rng.rand(1, IN).astype(np.float32) for _ in range(N_SAMPLES)]


def perturbed(ws):
    rng = np.random.RandomState(99)
    out = dict(ws)
    out["w"] = (ws["w"] + 0.4 * rng.randn(*ws["w"].shape)).astype(np.float32)
    out["w2"] = (ws["w2"] + 0.02 * rng.randn(*ws["w2"].shape)).astype(np.float32)
    return out


def make(d):
    ws = weights(1)
    build(ws, os.path.join(d, "ref.onnx"))
    build(perturbed(ws), os.path.join(d, "cand.onnx"))
    # A model whose weights dominate its size, for size gates.
    rng = np.random.RandomState(3)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", IN])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4096])
    w = numpy_helper.from_array(rng.randn(IN, 4096).astype(np.float32), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="wide")], "big",
                          [x], [y], [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]),
              os.path.join(d, "big.onnx"))
    xs = samples()
    for i, x in enumerate(xs):
        os.makedirs(os.path.join(d, "data", f"s{i}"), exist_ok=True)
        np.save(os.path.join(d, "data", f"s{i}", "x.npy"), x)
    # Labels: the reference's arg-max, except two samples, so both accuracies are below 1.
    ref = [forward(ws, x)["logits"][0] for x in xs]
    labels = np.array([int(np.argmax(r)) for r in ref], dtype=np.int64)
    labels[0] = (labels[0] + 1) % CLASSES
    labels[3] = (labels[3] + 5) % CLASSES
    labels[5] = 11  # a class feat.map (8 wide) does not have: no accuracy for it
    np.save(os.path.join(d, "labels.npy"), labels)


def expected(d):
    ws = weights(1)
    cand_ws = perturbed(ws)
    xs = samples()
    labels = np.load(os.path.join(d, "labels.npy"))
    out = {}
    for name in ["logits", "feat.map"]:
        r = np.concatenate([forward(ws, x)[name].astype(np.float64).ravel() for x in xs])
        c = np.concatenate([forward(cand_ws, x)[name].astype(np.float64).ravel() for x in xs])
        e = r - c
        m = {
            "max_abs": np.max(np.abs(e)),
            "mean_abs": np.mean(np.abs(e)),
            "rmse": math.sqrt(np.mean(e * e)),
            "rel_l2": np.linalg.norm(e) / np.linalg.norm(r),
            "cosine": float(r @ c) / (np.linalg.norm(r) * np.linalg.norm(c)),
            "snr_db": 10 * math.log10(float(r @ r) / float(e @ e)),
        }
        width = CLASSES if name == "logits" else FEAT
        rr = r.reshape(-1, width)
        cc = c.reshape(-1, width)
        ra = rr.argmax(axis=1)
        m["top1_agreement"] = float(np.mean(ra == cc.argmax(axis=1)))
        if width > 5:
            top5 = np.argsort(-cc, axis=1, kind="stable")[:, :5]
            m["top5_agreement"] = float(np.mean([ra[i] in top5[i] for i in range(len(ra))]))
        if labels.max() < width:  # labels that are classes of this output
            m["reference_accuracy"] = float(np.mean(ra == labels))
            m["accuracy"] = float(np.mean(cc.argmax(axis=1) == labels))
            m["accuracy_drop"] = m["reference_accuracy"] - m["accuracy"]
        out[name] = m
    return out


def check(d, report_path):
    report = json.load(open(report_path))
    want = expected(d)
    bad = 0
    for output, metrics in want.items():
        got = report["drift"][output]
        for k, v in metrics.items():
            g = got.get(k)
            tol = 1e-5 * max(1.0, abs(v))
            if g is None or abs(g - v) > tol:
                print(f"MISMATCH {output}.{k}: report {g}, numpy {v}")
                bad += 1
        for k in ["reference_accuracy", "accuracy", "accuracy_drop"]:
            if k not in metrics and got.get(k) is not None:
                print(f"UNEXPECTED {output}.{k}: report {got.get(k)}, not measurable")
                bad += 1
    if bad:
        sys.exit(1)
    print("drift matches numpy for", ", ".join(want))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        check(sys.argv[2], sys.argv[3])
