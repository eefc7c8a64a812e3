#!/usr/bin/env python3
"""A folder of models for `compressor batch` tests and benchmarks: the demo models, small models
made here with onnx.helper, and deliberately broken files.

    make_batch_zoo.py SOURCE_DIR OUT_DIR [--ocr DIR]

Good models:   cnn.onnx mlp.onnx transformer.onnx (models/), gemm2.onnx convnet.onnx
               matmul_add.onnx (made here, seeded); with --ocr, also ocr_cls/det/rec.onnx.
Broken files:  broken_empty.onnx (0 bytes), broken_text.onnx (a text file),
               broken_truncated.onnx (the first 200 bytes of cnn.onnx), broken_checker.onnx
               (parses, but a node reads a value nothing produces).
Prints the good and the broken names, one per line, as `good NAME` / `broken NAME`.
"""
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def init(name, shape, rng):
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.3, name)


def save(model, path):
    model.opset_import[0].version = 13
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def gemm2(rng):
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1"),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], name="fc2"),
    ]
    g = helper.make_graph(
        nodes, "gemm2", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        [init("w1", [16, 32], rng), init("b1", [32], rng), init("w2", [32, 8], rng),
         init("b2", [8], rng)])
    return helper.make_model(g)


def convnet(rng):
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], name="fc"),
    ]
    g = helper.make_graph(
        nodes, "convnet", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [init("w", [8, 3, 3, 3], rng), init("b", [8], rng), init("w2", [8, 4], rng),
         init("b2", [4], rng)])
    return helper.make_model(g)


def matmul_add(rng):
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["m"], name="matmul"),
        helper.make_node("Add", ["m", "b"], ["y"], name="add"),
    ]
    g = helper.make_graph(
        nodes, "matmul_add", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 24])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 12])],
        [init("w", [24, 12], rng), init("b", [12], rng)])
    return helper.make_model(g)


def checker_failing():
    # Relu reads "ghost", which is neither an input, an initializer nor a node output.
    g = helper.make_graph(
        [helper.make_node("Relu", ["ghost"], ["y"], name="relu")], "broken",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    m = helper.make_model(g)
    m.opset_import[0].version = 13
    m.ir_version = 8
    return m


def main():
    args = sys.argv[1:]
    ocr = None
    if "--ocr" in args:
        i = args.index("--ocr")
        ocr = args[i + 1]
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit("usage: make_batch_zoo.py SOURCE_DIR OUT_DIR [--ocr DIR]")
    src, out = args
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    good = []
    for name, folder in [("cnn", "tiny_cnn"), ("mlp", "tiny_mlp"),
                         ("transformer", "tiny_transformer")]:
        shutil.copyfile(os.path.join(src, "models", folder, "model.onnx"),
                        os.path.join(out, name + ".onnx"))
        good.append(name)
    for name, make in [("gemm2", gemm2), ("convnet", convnet), ("matmul_add", matmul_add)]:
        save(make(rng), os.path.join(out, name + ".onnx"))
        good.append(name)
    if ocr:
        for m in ["cls", "det", "rec"]:
            shutil.copyfile(os.path.join(ocr, m + ".onnx"), os.path.join(out, "ocr_" + m + ".onnx"))
            good.append("ocr_" + m)
    open(os.path.join(out, "broken_empty.onnx"), "wb").close()
    with open(os.path.join(out, "broken_text.onnx"), "w") as f:
        f.write("this is a text file, not an ONNX model\n")
    with open(os.path.join(out, "cnn.onnx"), "rb") as f:
        head = f.read(200)
    with open(os.path.join(out, "broken_truncated.onnx"), "wb") as f:
        f.write(head)
    onnx.save(checker_failing(), os.path.join(out, "broken_checker.onnx"))
    for n in good:
        print("good", n)
    for n in ["broken_checker", "broken_empty", "broken_text", "broken_truncated"]:
        print("broken", n)


if __name__ == "__main__":
    main()
