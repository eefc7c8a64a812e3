#!/usr/bin/python3
# Trains three tiny demo classifiers on scikit-learn's digits and exports them as ONNX test models.
"""Regenerate the demo models under ``models/``.

Run from the repository root (or anywhere; paths are resolved relative to
this file) with Debian's interpreter:

    /usr/bin/python3 tools/models/make_demo_models.py

Requirements (Debian 12 packages): python3-torch, python3-onnx,
python3-sklearn, python3-numpy.

Outputs
    models/tiny_cnn/model.onnx          CNN with BatchNorm + residual Add
    models/tiny_transformer/model.onnx  one hand-written encoder block
    models/tiny_mlp/model.onnx          64-128-64-10 MLP (Gemm layers)
    models/<name>/test_data_set_0/{input_0,output_0}.pb
                                        8 held-out digits and torch's logits
    models/digits_eval/{images,labels}.npy
                                        200 held-out samples for accuracy work

Everything is seeded and runs single-threaded on the CPU with
``torch.use_deterministic_algorithms(True)``, so reruns produce the same
weights and the same files.
"""

import collections
import math
import os
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits

SEED = 0
N_EVAL = 200          # held-out samples written to models/digits_eval
N_TEST_BATCH = 8      # samples written to each test_data_set_0
OPSET = 13
INPUT_NAME = "input"
OUTPUT_NAME = "logits"

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS_DIR = os.path.join(REPO_ROOT, "models")


# --------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------
def set_determinism(seed):
    """Seed every RNG we use and force deterministic single-threaded kernels."""
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------
def load_data():
    """Return (train_x, train_y, eval_x, eval_y).

    Images are float32 [N,1,8,8] scaled from the dataset's 0..16 integer
    range to 0..1 (pixel / 16); this is the only normalization the models
    expect. Labels are int64. The split is a fixed permutation (seeded),
    with the last N_EVAL samples of the permutation held out.
    """
    digits = load_digits()  # bundled with scikit-learn, no download
    images = (digits.images.astype(np.float32) / np.float32(16.0))[:, None, :, :]
    labels = digits.target.astype(np.int64)
    perm = np.random.RandomState(SEED).permutation(len(labels))
    train_idx, eval_idx = perm[:-N_EVAL], perm[-N_EVAL:]
    return (images[train_idx], labels[train_idx],
            np.ascontiguousarray(images[eval_idx]), labels[eval_idx])


# --------------------------------------------------------------------------
# Models. Each takes images in its own layout (see `to_model_input`).
# --------------------------------------------------------------------------
class TinyCNN(nn.Module):
    """Conv-BN-ReLU x2, MaxPool, residual block (Add), GlobalAveragePool, Gemm."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.pool = nn.MaxPool2d(2)                      # 8x8 -> 4x4
        self.res_conv1 = nn.Conv2d(32, 32, 3, padding=1, bias=False)
        self.res_bn1 = nn.BatchNorm2d(32)
        self.res_conv2 = nn.Conv2d(32, 32, 3, padding=1, bias=False)
        self.res_bn2 = nn.BatchNorm2d(32)
        self.gap = nn.AdaptiveAvgPool2d(1)               # -> GlobalAveragePool
        self.fc = nn.Linear(32, 10)                      # -> Gemm

    def forward(self, x):                                # x: [B,1,8,8]
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.pool(x)
        r = F.relu(self.res_bn1(self.res_conv1(x)))
        r = self.res_bn2(self.res_conv2(r))
        x = F.relu(x + r)                                # residual Add
        x = torch.flatten(self.gap(x), 1)
        return self.fc(x)


class TinyTransformer(nn.Module):
    """Rows as tokens (8 tokens x 8 features), one pre-norm encoder block.

    Attention is written by hand with MatMul/Softmax so the exported graph
    shows the raw pattern (no fused attention op).
    """

    def __init__(self, tokens=8, d_in=8, d_model=32, heads=2, d_ff=64, classes=10):
        super().__init__()
        self.tokens, self.heads, self.d_head = tokens, heads, d_model // heads
        self.d_model = d_model
        self.embed = nn.Linear(d_in, d_model)
        self.pos = nn.Parameter(torch.zeros(1, tokens, d_model))
        self.ln1 = nn.LayerNorm(d_model)
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.o = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff1 = nn.Linear(d_model, d_ff)
        self.ff2 = nn.Linear(d_ff, d_model)
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, classes)
        nn.init.normal_(self.pos, std=0.02)

    def split_heads(self, t):
        # [B,T,D] -> [B,H,T,Dh]; -1 keeps the batch dimension symbolic while
        # the exported Reshape target stays a constant.
        return t.reshape(-1, self.tokens, self.heads, self.d_head).transpose(1, 2)

    def attention(self, x):
        q, k, v = self.split_heads(self.q(x)), self.split_heads(self.k(x)), self.split_heads(self.v(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.d_head)
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v)          # [B,H,T,Dh]
        ctx = ctx.transpose(1, 2).reshape(-1, self.tokens, self.d_model)
        return self.o(ctx)

    def forward(self, x):                                # x: [B,8,8]
        x = self.embed(x) + self.pos
        x = x + self.attention(self.ln1(x))              # residual Add
        x = x + self.ff2(F.gelu(self.ff1(self.ln2(x))))  # residual Add
        x = self.ln_f(x).mean(dim=1)                     # mean pool over tokens
        return self.head(x)


class TinyMLP(nn.Module):
    """64 -> 128 -> 64 -> 10 with ReLU; every Linear exports as Gemm."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(64, 128), nn.ReLU(),
            nn.Linear(128, 64), nn.ReLU(),
            nn.Linear(64, 10),
        )

    def forward(self, x):                                # x: [B,64]
        return self.net(x)


# name -> (constructor, input layout, epochs, learning rate)
MODEL_SPECS = collections.OrderedDict([
    ("tiny_cnn",         (TinyCNN,         (1, 8, 8), 15, 3e-3)),
    ("tiny_transformer", (TinyTransformer, (8, 8),    40, 3e-3)),
    ("tiny_mlp",         (TinyMLP,         (64,),     30, 3e-3)),
])


def to_model_input(images, layout):
    """Reshape [N,1,8,8] images to the layout a model expects ([N,*layout])."""
    return np.ascontiguousarray(images.reshape((images.shape[0],) + layout))


# --------------------------------------------------------------------------
# Training / evaluation
# --------------------------------------------------------------------------
def train(model, x, y, epochs, lr, batch_size=64):
    """Plain Adam + cross-entropy over seeded mini-batch shuffles."""
    gen = torch.Generator().manual_seed(SEED)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(yt), generator=gen)
        for start in range(0, len(yt), batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    return float(loss)


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    pred = model(torch.from_numpy(x)).argmax(dim=1).numpy()
    return float((pred == y).mean())


# --------------------------------------------------------------------------
# Export / checking
# --------------------------------------------------------------------------
def export(model, sample, path, keep_batchnorm):
    """Export with opset 13 and a symbolic batch dimension named `batch`.

    In torch 1.13 the default TrainingMode.EVAL export always runs
    `_jit_pass_onnx_eval_peephole`, which fuses Conv+BatchNorm no matter
    what `do_constant_folding` says. To keep BatchNormalization nodes in the
    graph (our optimizer's BN-folding pass needs something to fold) we export
    the *eval-mode* model with TrainingMode.PRESERVE: that skips the peephole
    pass, and since the module is in eval mode BatchNorm is still exported in
    inference form (running mean/var, single output).
    """
    model.eval()
    kwargs = {}
    if keep_batchnorm:
        kwargs["training"] = torch.onnx.TrainingMode.PRESERVE
        kwargs["do_constant_folding"] = False
    torch.onnx.export(
        model, (torch.from_numpy(sample),), path,
        export_params=True,
        opset_version=OPSET,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        **kwargs,
    )


def op_histogram(model_proto):
    return collections.Counter(n.op_type for n in model_proto.graph.node)


def check_exported(path, expect_in_shape):
    """Full ONNX check plus input/output name/shape sanity; returns the proto."""
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)   # includes strict shape inference

    def dims(vi):
        return [d.dim_param if d.dim_param else d.dim_value
                for d in vi.type.tensor_type.shape.dim]

    assert [i.name for i in m.graph.input] == [INPUT_NAME], m.graph.input
    assert [o.name for o in m.graph.output] == [OUTPUT_NAME], m.graph.output
    in_dims, out_dims = dims(m.graph.input[0]), dims(m.graph.output[0])
    assert in_dims == ["batch"] + list(expect_in_shape), in_dims
    assert out_dims == ["batch", 10], out_dims
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert {o.domain for o in m.opset_import} <= {"", "ai.onnx"}
    assert m.opset_import[0].version == OPSET
    return m


def write_tensor(arr, name, path):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(arr, name).SerializeToString())


def fmt_size(path):
    return "%s (%d bytes)" % (os.path.relpath(path, REPO_ROOT), os.path.getsize(path))


# --------------------------------------------------------------------------
def main():
    t0 = time.time()
    set_determinism(SEED)
    train_x, train_y, eval_x, eval_y = load_data()
    print("digits: %d train / %d held-out samples" % (len(train_y), len(eval_y)))

    # Held-out evaluation set, shared by all models ([N,1,8,8], pixel/16).
    eval_dir = os.path.join(MODELS_DIR, "digits_eval")
    os.makedirs(eval_dir, exist_ok=True)
    np.save(os.path.join(eval_dir, "images.npy"), eval_x.astype(np.float32))
    np.save(os.path.join(eval_dir, "labels.npy"), eval_y.astype(np.int64))

    written = [os.path.join(eval_dir, "images.npy"), os.path.join(eval_dir, "labels.npy")]
    for name, (ctor, layout, epochs, lr) in MODEL_SPECS.items():
        t1 = time.time()
        torch.manual_seed(SEED)                  # same init seed per model
        model = ctor()
        tx, ex = to_model_input(train_x, layout), to_model_input(eval_x, layout)
        loss = train(model, tx, train_y, epochs, lr)
        acc = accuracy(model, ex, eval_y)

        out_dir = os.path.join(MODELS_DIR, name)
        data_dir = os.path.join(out_dir, "test_data_set_0")
        os.makedirs(data_dir, exist_ok=True)
        onnx_path = os.path.join(out_dir, "model.onnx")
        export(model, ex[:N_TEST_BATCH], onnx_path, keep_batchnorm=(name == "tiny_cnn"))
        proto = check_exported(onnx_path, layout)
        hist = op_histogram(proto)
        if name == "tiny_cnn":
            assert hist["BatchNormalization"] == 4, "BatchNorm was folded during export"

        # Reference batch: first 8 held-out digits and torch's logits for them.
        batch = ex[:N_TEST_BATCH]
        with torch.no_grad():
            ref = model(torch.from_numpy(batch)).numpy().astype(np.float32)
        write_tensor(batch, INPUT_NAME, os.path.join(data_dir, "input_0.pb"))
        write_tensor(ref, OUTPUT_NAME, os.path.join(data_dir, "output_0.pb"))
        written += [onnx_path, os.path.join(data_dir, "input_0.pb"),
                    os.path.join(data_dir, "output_0.pb")]

        n_params = sum(p.numel() for p in model.parameters())
        print("\n%s: %d params, final train loss %.4f, held-out accuracy %.1f%% (%d/%d), %.1fs"
              % (name, n_params, loss, 100 * acc, round(acc * len(eval_y)), len(eval_y),
                 time.time() - t1))
        print("  ops: " + ", ".join("%s=%d" % kv for kv in sorted(hist.items())))
        # onnxruntime is not available here; the check above is onnx.load +
        # onnx.checker (full_check) only.

    print("\nfiles:")
    for p in written:
        print("  " + fmt_size(p))
    print("total %.1fs" % (time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
