#!/usr/bin/python3
"""Prints one Markdown drift table for `compressor quantize` runs of one model.

    quant_ocr_table.py MODEL.onnx RUNS.tsv [--top1]

RUNS.tsv has one run a line, tab-separated: LABEL, STATUS (ok or fail), REPORT.json, OUT.onnx,
ERROR (the run's last stderr line, for failed runs). A row shows, per output of the model:

- size ratio: on-disk bytes out / in, from the report (biases, graph and Q/DQ nodes included);
- weight bytes ratio: bytes of the weights of the Conv, ConvTranspose, Gemm and MatMul layers in
  OUT (int8 weights with their scale and zero-point tensors; weights left in float count as
  float) over the same layers' float weights in MODEL. A layer's weight is input 1 (QLinearConv,
  QLinearMatMul: inputs 3-5; ConvInteger, MatMulInteger: inputs 1 and 3 and the weight scale the
  output is multiplied by), followed back through DequantizeLinear to the stored tensors;
  activation x activation MatMuls have no weight and are not counted;
- the final drift of the report: cosine, rel_l2, snr_db (and top-1 agreement with --top1).

Exit codes: 0 printed, 1 unreadable model or report, 2 usage error.
"""
import argparse
import json
import sys

import numpy as np
import onnx

LAYER_WEIGHT_INPUTS = {
    "Conv": (1,),
    "ConvTranspose": (1,),
    "Gemm": (1,),
    "MatMul": (1,),
    "QLinearConv": (3, 4, 5),
    "QLinearMatMul": (3, 4, 5),
    "ConvInteger": (1, 3),
    "MatMulInteger": (1, 3),
}
# Ops a weight may pass through between its stored tensor and the layer.
PASS_THROUGH = {"Identity", "Reshape", "Transpose", "Cast", "Squeeze", "Unsqueeze", "Flatten"}


# Bytes per element of TensorProto.DataType codes.
ELEMENT_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2}


def tensor_bytes(t):
    if t.data_type not in ELEMENT_BYTES:
        raise ValueError(f"tensor '{t.name}': unsupported element type {t.data_type}")
    return int(np.prod(t.dims, dtype=np.int64)) * ELEMENT_BYTES[t.data_type]


class Graph:
    def __init__(self, path):
        model = onnx.load(path, load_external_data=False)
        self.graph = model.graph
        self.constants = {t.name: tensor_bytes(t) for t in self.graph.initializer}
        self.producer = {}
        self.readers = {}
        for node in self.graph.node:
            for out in node.output:
                self.producer[out] = node
            for name in node.input:
                self.readers.setdefault(name, []).append(node)
            if node.op_type == "Constant":
                for attr in node.attribute:
                    if attr.name == "value":
                        self.constants[node.output[0]] = tensor_bytes(attr.t)

    def stored(self, name):
        """The constant tensors a value is computed from (through DequantizeLinear and reshapes),
        or None when it depends on a graph input (an activation)."""
        if name in self.constants:
            return {name}
        node = self.producer.get(name)
        if node is None:
            return None
        if node.op_type == "DequantizeLinear":
            parts = [self.stored(n) for n in node.input if n]
        elif node.op_type in PASS_THROUGH:
            parts = [self.stored(node.input[0])]  # shape operands are not weight bytes
        else:
            return None
        if any(p is None for p in parts):
            return None
        return set().union(*parts)

    def integer_output_scale(self, node):
        """The constant weight scale a ConvInteger/MatMulInteger result is multiplied by."""
        frontier = list(node.output)
        for _ in range(4):
            nxt = []
            for value in frontier:
                for reader in self.readers.get(value, []):
                    if reader.op_type == "Mul":
                        for other in reader.input:
                            if other == value:
                                continue
                            found = self.scale_constants(other)
                            if found:
                                return found
                    if reader.op_type in ("Cast", "Mul"):
                        nxt.extend(reader.output)
            frontier = nxt
        return set()

    def scale_constants(self, name, depth=0):
        """Constants feeding a scale product (Mul of the input scale and the weight scale)."""
        if name in self.constants:
            return {name}
        node = self.producer.get(name)
        if node is None or depth > 3 or node.op_type != "Mul":
            return set()
        out = set()
        for n in node.input:
            out |= self.scale_constants(n, depth + 1)
        return out

    def weight_tensors(self):
        names = set()
        for node in self.graph.node:
            inputs = LAYER_WEIGHT_INPUTS.get(node.op_type)
            if inputs is None or len(node.input) <= inputs[0]:
                continue
            weight = self.stored(node.input[inputs[0]])
            if weight is None:
                continue  # activation x activation
            names |= weight
            for i in inputs[1:]:
                if i < len(node.input) and node.input[i]:
                    names |= self.stored(node.input[i]) or set()
            if node.op_type in ("ConvInteger", "MatMulInteger"):
                names |= self.integer_output_scale(node)
        return names

    def weight_bytes(self):
        return sum(self.constants[n] for n in self.weight_tensors())


def fmt(v, digits):
    if v is None:
        return "n/a"
    return f"{v:.{digits}f}"


def metrics_of(entry):
    return entry.get("metrics", entry) if isinstance(entry, dict) else {}


def main():
    ap = argparse.ArgumentParser(usage="%(prog)s MODEL.onnx RUNS.tsv [--top1]",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("runs")
    ap.add_argument("--top1", action="store_true", help="add the top-1 agreement column")
    args = ap.parse_args()
    try:
        float_bytes = Graph(args.model).weight_bytes()
        with open(args.runs, encoding="utf-8") as f:
            runs = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    except Exception as e:  # unreadable file, protobuf decode error
        print(f"quant_ocr_table.py: {e}", file=sys.stderr)
        return 1
    if float_bytes == 0:
        print(f"quant_ocr_table.py: {args.model}: no Conv/Gemm/MatMul weights found", file=sys.stderr)
        return 1

    head = ["mode", "size ratio", "weight bytes ratio", "cosine", "rel_l2", "snr_db"]
    if args.top1:
        head.append("top1 agreement")
    rows = []
    outputs = set()
    for fields in runs:
        fields += [""] * (5 - len(fields))
        label, status, report_path, out_path, error = fields[:5]
        if status != "ok":
            rows.append([label, "failed: " + error.replace("|", "\\|")])
            continue
        try:
            with open(report_path, encoding="utf-8") as f:
                report = json.load(f)
            weights = Graph(out_path).weight_bytes() / float_bytes
        except Exception as e:
            rows.append([label, f"failed: {e}".replace("|", "\\|")])
            continue
        size = report["output"]["bytes"] / report["model"]["bytes"]
        drift = report.get("drift") or {}
        outputs |= set(drift)
        for output, entry in drift.items():
            m = metrics_of(entry)
            name = label if len(drift) == 1 else f"{label} ({output})"
            row = [name, fmt(size, 3), fmt(weights, 3), fmt(m.get("cosine"), 6),
                   fmt(m.get("rel_l2"), 4), fmt(m.get("snr_db"), 1)]
            if args.top1:
                row.append(fmt(m.get("top1_agreement"), 4))
            rows.append(row)
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for row in rows:
        if len(row) == 2:  # a failed run: its error spans the metric columns
            row = row + [""] * (len(head) - 2)
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
