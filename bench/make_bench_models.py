#!/usr/bin/python3
"""Writes the executor benchmark's synthetic models into OUTDIR (deterministic, seed 0):

  resnet.onnx       ResNet-18-style image classifier: Conv+BatchNormalization+Relu, basic blocks
                    with projection shortcuts, MaxPool, GlobalAveragePool, Gemm; [1, 3, 224, 224].
  transformer.onnx  BERT-mini-style encoder: 4 layers, hidden 256, 4 heads, FFN 1024, GELU (Erf),
                    LayerNormalization; input [1, 128, 256] embeddings.
  mlp.onnx          Gemm-dominated MLP for the factorization benchmark: input [batch, 1024] ->
                    Gemm 1024->4096 -> Relu -> Gemm 4096->4096 -> Relu -> Gemm 4096->1024 -> Relu
                    -> Gemm 1024->1000 (logits); weights [out, in] with transB=1 and biases, as
                    PyTorch exports nn.Linear; 26.2M parameters, 105 MB. Trained layers have a
                    decaying spectrum, not a random Gaussian one, so every weight is
                    W = U diag(s) V^T with s_i proportional to (i+1)^-0.7, scaled to the Frobenius
                    norm of He initialization (sum s_i^2 = 2 * out). U and V are random orthogonal
                    matrices built as three rounds of random signs, a random permutation and a
                    normalized Walsh-Hadamard transform (O(n^2 log n), a few seconds in all; a QR
                    of a 4096x4096 Gaussian takes minutes with reference BLAS). The 1000-output
                    layer is the first 1000 rows of a 1024x1024 such matrix, so its singular values
                    interlace the s_i instead of equalling them. Its own generator (seed 1), so the
                    other two models' bytes do not depend on whether it is written.

Usage: /usr/bin/python3 bench/make_bench_models.py OUTDIR [resnet] [transformer] [mlp]
       (default: resnet transformer; needs python3-onnx and numpy)
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


def walsh_hadamard(x):
    """Normalized Walsh-Hadamard transform of every column of x ([n, k], n a power of two)."""
    n = x.shape[0]
    h = 1
    while h < n:
        y = x.reshape(n // (2 * h), 2, h, -1)
        x = np.stack((y[:, 0] + y[:, 1], y[:, 0] - y[:, 1]), axis=1)
        h *= 2
    return x.reshape(n, -1) / np.sqrt(n)


def random_orthogonal(g, n):
    """Returns apply(x) = Q x for one random orthogonal [n, n] Q (n a power of two)."""
    rounds = [(g.choice([-1.0, 1.0], n), g.permutation(n)) for _ in range(3)]

    def apply(x):
        for signs, perm in rounds:
            x = walsh_hadamard((signs[:, None] * x)[perm])
        return x
    return apply


def decaying_weight(g, n_out, n_in, decay=0.7):
    """[n_out, n_in] float32 weight U diag(s) V^T with s_i proportional to (i+1)^-decay."""
    full_out = 1 << (n_out - 1).bit_length()
    p = min(full_out, n_in)
    s = np.arange(1, p + 1, dtype=np.float64) ** -decay
    s *= np.sqrt(2.0 * n_out / np.sum(s * s))
    w = np.zeros((full_out, n_in))
    w[np.arange(p), np.arange(p)] = s
    w = random_orthogonal(g, full_out)(w)        # U diag(s)
    w = random_orthogonal(g, n_in)(w.T).T        # U diag(s) V^T
    return w[:n_out].astype(np.float32)


def mlp(widths=(1024, 4096, 4096, 1024, 1000)):
    g = np.random.default_rng(1)
    nodes, inits = [], []
    x = "features"
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        w, bias = f"fc{i}.weight", f"fc{i}.bias"
        inits.append(numpy_helper.from_array(decaying_weight(g, n_out, n_in), w))
        inits.append(numpy_helper.from_array((0.01 * g.standard_normal(n_out)).astype(np.float32), bias))
        last = i == len(widths) - 2
        y = "logits" if last else f"fc{i}"
        nodes.append(helper.make_node("Gemm", [x, w, bias], [y], name=f"fc{i}", transB=1))
        if not last:
            x = f"relu{i}"
            nodes.append(helper.make_node("Relu", [y], [x], name=x))
    graph = helper.make_graph(
        nodes, "mlp_gemm",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", widths[0]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", widths[-1]])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def main():
    builders = {"resnet": resnet, "transformer": transformer, "mlp": mlp}
    names = sys.argv[2:] or ["resnet", "transformer"]
    if len(sys.argv) < 2 or any(n not in builders for n in names):
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    # resnet and transformer draw from the shared generator in this order whichever are asked
    # for, so each one's bytes never depend on the command line.
    models = {n: build() for n, build in builders.items() if n != "mlp" or n in names}
    for name in names:
        model = models[name]
        model.ir_version = 8
        onnx.checker.check_model(model, full_check=True)
        onnx.save(model, os.path.join(out, name + ".onnx"))
        print(f"wrote {os.path.join(out, name + '.onnx')}")


if __name__ == "__main__":
    main()
