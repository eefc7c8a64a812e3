#!/usr/bin/python3
"""Writes the executor benchmark's synthetic models into OUTDIR (deterministic, seed 0):

  resnet.onnx       ResNet-18-style image classifier: Conv+BatchNormalization+Relu, basic blocks
                    with projection shortcuts, MaxPool, GlobalAveragePool, Gemm; [1, 3, 224, 224].
  transformer.onnx  BERT-mini-style encoder: 4 layers, hidden 256, 4 heads, FFN 1024, GELU (Erf),
                    LayerNormalization; input [1, 128, 256] embeddings.

Usage: /usr/bin/python3 bench/make_bench_models.py OUTDIR   (needs python3-onnx and numpy)
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(0)


class Builder:
    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, prefix):
        self.count += 1
        return f"{prefix}_{self.count}"

    def weight(self, shape, scale):
        n = self.name("w")
        self.inits.append(numpy_helper.from_array(
            (rng.standard_normal(shape) * scale).astype(np.float32), n))
        return n

    def const(self, array):
        n = self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(array), n))
        return n

    def op(self, op_type, inputs, **attrs):
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def conv_bn(b, x, cin, cout, k, stride, relu=True):
    w = b.weight((cout, cin, k, k), np.sqrt(2.0 / (cin * k * k)))
    y = b.op("Conv", [x, w], kernel_shape=[k, k], strides=[stride, stride],
             pads=[k // 2] * 4)
    scale = b.const((1 + 0.1 * rng.standard_normal(cout)).astype(np.float32))
    bias = b.const((0.1 * rng.standard_normal(cout)).astype(np.float32))
    mean = b.const((0.1 * rng.standard_normal(cout)).astype(np.float32))
    var = b.const((1 + 0.1 * rng.random(cout)).astype(np.float32))
    y = b.op("BatchNormalization", [y, scale, bias, mean, var], epsilon=1e-5)
    return b.op("Relu", [y]) if relu else y


def resnet():
    b = Builder()
    x = conv_bn(b, "image", 3, 64, 7, 2)
    x = b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64
    for stage, cout in enumerate([64, 128, 256, 512]):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            y = conv_bn(b, x, cin, cout, 3, stride)
            y = conv_bn(b, y, cout, cout, 3, 1, relu=False)
            short = conv_bn(b, x, cin, cout, 1, stride, relu=False) if stride != 1 or cin != cout else x
            x = b.op("Relu", [b.op("Add", [y, short])])
            cin = cout
    x = b.op("Flatten", [b.op("GlobalAveragePool", [x])])
    w = b.weight((1000, 512), 0.05)
    bias = b.const(np.zeros(1000, np.float32))
    b.nodes.append(helper.make_node("Gemm", [x, w, bias], ["logits"], name="fc", transB=1))
    graph = helper.make_graph(
        b.nodes, "resnet18_style",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1000])], b.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def transformer(layers=4, seq=128, hidden=256, heads=4, ffn=1024):
    b = Builder()
    d = hidden // heads
    x = "embeddings"
    split_shape = b.const(np.array([0, seq, heads, d], np.int64))
    merge_shape = b.const(np.array([0, seq, hidden], np.int64))
    scale = b.const(np.array(np.sqrt(d), np.float32))
    half, one, sqrt2 = (b.const(np.array(v, np.float32)) for v in (0.5, 1.0, np.sqrt(2.0)))

    def linear(t, n_in, n_out):
        return b.op("Add", [b.op("MatMul", [t, b.weight((n_in, n_out), 1 / np.sqrt(n_in))]),
                            b.const(np.zeros(n_out, np.float32))])

    def layer_norm(t):
        return b.op("LayerNormalization", [t, b.const(np.ones(hidden, np.float32)),
                                           b.const(np.zeros(hidden, np.float32))],
                    axis=-1, epsilon=1e-5)

    for _ in range(layers):
        heads_of = lambda t, perm: b.op("Transpose", [b.op("Reshape", [t, split_shape])], perm=perm)
        q = heads_of(linear(x, hidden, hidden), [0, 2, 1, 3])
        k = heads_of(linear(x, hidden, hidden), [0, 2, 3, 1])
        v = heads_of(linear(x, hidden, hidden), [0, 2, 1, 3])
        scores = b.op("Softmax", [b.op("Div", [b.op("MatMul", [q, k]), scale])], axis=-1)
        ctx = b.op("Transpose", [b.op("MatMul", [scores, v])], perm=[0, 2, 1, 3])
        attn = linear(b.op("Reshape", [ctx, merge_shape]), hidden, hidden)
        x = layer_norm(b.op("Add", [x, attn]))
        h = linear(x, hidden, ffn)
        gelu = b.op("Mul", [b.op("Mul", [h, half]),
                            b.op("Add", [b.op("Erf", [b.op("Div", [h, sqrt2])]), one])])
        x = layer_norm(b.op("Add", [x, linear(gelu, ffn, hidden)]))
    b.nodes.append(helper.make_node("Identity", [x], ["hidden_states"], name="output"))
    graph = helper.make_graph(
        b.nodes, "transformer_style",
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", seq, hidden])],
        [helper.make_tensor_value_info("hidden_states", TensorProto.FLOAT, ["batch", seq, hidden])],
        b.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, model in (("resnet", resnet()), ("transformer", transformer())):
        model.ir_version = 8
        onnx.checker.check_model(model, full_check=True)
        onnx.save(model, os.path.join(out, name + ".onnx"))
        print(f"wrote {os.path.join(out, name + '.onnx')}")


if __name__ == "__main__":
    main()
