#!/usr/bin/python3
"""Writes the bad-input corpus in tests/data/bad_inputs/ and its EXPECTED.txt.

Every file is a few hundred bytes at most (the deep-nesting case is a few KiB), built from
scratch with python3-onnx (Debian's 1.12), so reruns give byte-identical files:

    /usr/bin/python3 tools/scripts/make_bad_inputs.py [OUT_DIR]

EXPECTED.txt has one line per case: `<file>  <exit code>  <substring>`, where the substring is
what the one-line `error: ...` message of `compressor optimize FILE -o OUT` must contain. The
CLI contract test (tests/cli/cli_contract_test.sh) reads it. Links are not committed: the test
copies the corpus to a temporary folder and creates them there (see `LINKS` below, which the
test mirrors).
"""

import os
import random
import shutil
import sys

import onnx
from onnx import AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "..", "tests", "data", "bad_inputs")

OPSET = 13
IR_VERSION = 7

# (file, exit code, substring) in the order they appear in EXPECTED.txt.
CASES = []


def model_bytes(m: ModelProto) -> bytes:
    return m.SerializeToString(deterministic=True)


def make_model(graph: GraphProto) -> ModelProto:
    m = ModelProto()
    m.ir_version = IR_VERSION
    m.producer_name = "make_bad_inputs"
    op = m.opset_import.add()
    op.domain = ""
    op.version = OPSET
    m.graph.CopyFrom(graph)
    return m


def weight(name="W", raw=b"\x00\x00\x80\x3f" * 4, dims=(4,), dtype=TensorProto.FLOAT):
    t = TensorProto()
    t.name = name
    t.dims.extend(dims)
    t.data_type = dtype
    if raw is not None:
        t.raw_data = raw
    return t


def external_weight(name="W", location="weights.bin", extra=None, offset=None, length=None):
    t = weight(name, raw=None)
    t.data_location = TensorProto.EXTERNAL
    entries = [("location", location)]
    if offset is not None:
        entries.append(("offset", str(offset)))
    if length is not None:
        entries.append(("length", str(length)))
    if extra:
        entries.extend(extra)
    for k, v in entries:
        e = t.external_data.add()
        e.key = k
        e.value = v
    return t


def add_graph(init: TensorProto, nodes=None, outputs=("Y",)) -> GraphProto:
    """X[1,4] + W[4] -> Y, the smallest model that holds a weight."""
    if nodes is None:
        nodes = [helper.make_node("Add", ["X", init.name], ["Y"], name="add")]
    return helper.make_graph(
        nodes,
        "bad_input",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, [1, 4]) for o in outputs],
        [init],
    )


def case(out, name, data, code, substring):
    """Writes `data` (bytes) to OUT/name and records the expectation."""
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    CASES.append((name, code, substring))


def build(out):
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)

    # --- Not a model at all -------------------------------------------------------------------
    case(out, "empty.onnx", b"", 1, "empty file")
    rng = random.Random(20240601)
    # A leading 0xff byte is field 31 with wire type 7, which protobuf always rejects, so the
    # seed cannot drift into bytes that happen to parse.
    noise = bytes([0xFF]) + bytes(rng.getrandbits(8) for _ in range(255))
    case(out, "random_bytes.onnx", noise, 1, "not a valid ONNX model")

    good = make_model(add_graph(weight(raw=bytes(range(64)), dims=(16,))))
    good.graph.node[0].input[1] = "W"
    good_bytes = model_bytes(good)
    # Cut inside the initializer's raw_data, so a length-delimited field runs past the end.
    case(out, "truncated.onnx", good_bytes[: len(good_bytes) - 20], 1, "not a valid ONNX model")

    os.makedirs(os.path.join(out, "a_directory.onnx"))
    with open(os.path.join(out, "a_directory.onnx", ".gitkeep"), "wb"):
        pass
    CASES.append(("a_directory.onnx", 1, "is a directory"))
    CASES.append(("missing.onnx", 1, "no such file"))

    no_graph = ModelProto()
    no_graph.ir_version = IR_VERSION
    no_graph.producer_name = "make_bad_inputs"
    no_graph.opset_import.add().version = OPSET
    case(out, "no_graph.onnx", model_bytes(no_graph), 1, "no graph")

    no_ir = make_model(add_graph(weight()))
    no_ir.ClearField("ir_version")
    case(out, "no_ir_version.onnx", model_bytes(no_ir), 1, "no ir_version")

    # --- External data -------------------------------------------------------------------------
    payload = b"\x00\x00\x80\x3f" * 4  # four float 1.0, what W[4] needs
    for data_file in ("weights.bin", "ext_hardlink_target.bin"):
        with open(os.path.join(out, data_file), "wb") as f:
            f.write(payload)

    def ext_case(name, code, substring, **kw):
        case(out, name, model_bytes(make_model(add_graph(external_weight(**kw)))), code, substring)

    ext_case("ext_absolute.onnx", 1, "'/etc/passwd' is absolute", location="/etc/passwd")
    ext_case("ext_dotdot.onnx", 1, "escapes the model's folder", location="../bad_inputs/weights.bin")
    ext_case("ext_dotdot_inner.onnx", 1, "escapes the model's folder",
             location="a_directory.onnx/../../weights.bin")
    # Created by the test: ext_symlink.bin -> a 16-byte file outside the corpus folder.
    ext_case("ext_symlink.onnx", 1, "symbolic link", location="ext_symlink.bin")
    # Created by the test: ext_hardlink.bin, a second hard link to ext_hardlink_target.bin.
    ext_case("ext_hardlink.onnx", 1, "hard links", location="ext_hardlink.bin")
    ext_case("ext_offset_beyond.onnx", 1, "lies beyond the end of 'weights.bin'",
             location="weights.bin", offset=4096, length=16)
    ext_case("ext_offset_huge.onnx", 1, "lies beyond the end of 'weights.bin'",
             location="weights.bin", offset=2**64 - 8, length=16)
    ext_case("ext_offset_negative.onnx", 1, "'offset' is not a non-negative integer",
             location="weights.bin", offset=-1)
    ext_case("ext_length_mismatch.onnx", 1, "external data length 8", location="weights.bin",
             length=8)
    ext_case("ext_unknown_key.onnx", 1, "unknown external data key 'compression'",
             location="weights.bin", extra=[("compression", "zstd")])
    ext_case("ext_missing_file.onnx", 1, "'no_such_weights.bin' not found",
             location="no_such_weights.bin")
    ext_case("ext_empty_location.onnx", 1, "location is empty", location="")
    ext_case("ext_is_directory.onnx", 1, "is not a regular file", location="a_directory.onnx")

    # External data inside a Constant node's attribute (embedded at load time).
    const_value = external_weight("c", location="/etc/passwd")
    const_node = helper.make_node("Constant", [], ["W"], name="const_w", value=const_value)
    g = add_graph(weight("unused"), nodes=[
        const_node, helper.make_node("Add", ["X", "W"], ["Y"], name="add")])
    g.ClearField("initializer")
    case(out, "ext_in_attribute.onnx", model_bytes(make_model(g)), 1,
         "node 'const_w' (Constant) attribute 'value': external data location '/etc/passwd'")

    # --- Graph structure -----------------------------------------------------------------------
    cycle = helper.make_graph(
        [
            helper.make_node("Relu", ["b_out"], ["a_out"], name="A"),
            helper.make_node("Relu", ["a_out"], ["b_out"], name="B"),
        ],
        "cycle",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("a_out", TensorProto.FLOAT, [1, 4])],
    )
    case(out, "cycle.onnx", model_bytes(make_model(cycle)), 1, "is on a cycle")

    dangling = helper.make_graph(
        [helper.make_node("Add", ["X", "nowhere"], ["Y"], name="consumer")],
        "dangling",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])],
    )
    case(out, "undefined_input.onnx", model_bytes(make_model(dangling)), 1,
         "node 'consumer' (Add): input 'nowhere' is not a graph input")

    unproduced = helper.make_graph(
        [helper.make_node("Relu", ["X"], ["Y"], name="relu")],
        "unproduced_output",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [1, 4])],
    )
    case(out, "undefined_output.onnx", model_bytes(make_model(unproduced)), 1,
         "graph output 'Z' is not produced by any node")

    twice = helper.make_graph(
        [
            helper.make_node("Relu", ["X"], ["Y"], name="first"),
            helper.make_node("Relu", ["X"], ["Y"], name="second"),
        ],
        "defined_twice",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])],
    )
    case(out, "output_defined_twice.onnx", model_bytes(make_model(twice)), 1,
         "output 'Y' is already defined elsewhere")

    no_op = make_model(add_graph(weight()))
    no_op.graph.node[0].op_type = ""
    case(out, "node_no_op_type.onnx", model_bytes(no_op), 1, "node 'add' has no op_type")

    dup = make_model(add_graph(weight()))
    dup.graph.initializer.add().CopyFrom(weight())
    case(out, "initializer_twice.onnx", model_bytes(dup), 1, "initializer 'W' is defined twice")

    # Load, but fail the ONNX checker before anything is written.
    unknown_op = helper.make_graph(
        [helper.make_node("NoSuchOp", ["X"], ["Y"], name="mystery")],
        "unknown_op",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])],
    )
    case(out, "checker_unknown_op.onnx", model_bytes(make_model(unknown_op)), 1,
         "No Op registered for NoSuchOp")
    mixed = add_graph(helper.make_tensor("I", TensorProto.INT64, [4], [1, 2, 3, 4]),
                      nodes=[helper.make_node("Add", ["X", "I"], ["Y"], name="mixed")])
    case(out, "checker_type_mismatch.onnx", model_bytes(make_model(mixed)), 1,
         "node name: mixed")

    # --- Tensors -------------------------------------------------------------------------------
    case(out, "unknown_dtype.onnx",
         model_bytes(make_model(add_graph(weight(dtype=99)))), 1,
         "initializer 'W': unknown data type 99")
    case(out, "raw_data_size.onnx",
         model_bytes(make_model(add_graph(weight(raw=b"\x00" * 12)))), 1,
         "initializer 'W': raw_data has 12 bytes")
    case(out, "negative_dim.onnx",
         model_bytes(make_model(add_graph(weight(dims=(-1, 4))))), 1,
         "initializer 'W': negative dimension")
    case(out, "huge_shape.onnx",
         model_bytes(make_model(add_graph(weight(dims=(1 << 31, 1 << 31, 1 << 31))))), 1,
         "initializer 'W': shape")
    # 2^62 elements: passes the element-count limit, but 2^62 * 32 bits overflows int64 when
    # the byte size is computed (found by tests/fuzz/load_fuzzer).
    case(out, "shape_overflow.onnx",
         model_bytes(make_model(add_graph(weight(dims=(1 << 31, 1 << 31))))), 1,
         "initializer 'W'")
    typed = weight(raw=None)
    typed.float_data.extend([1.0, 2.0, 3.0])
    case(out, "typed_data_count.onnx", model_bytes(make_model(add_graph(typed))), 1,
         "initializer 'W': holds 3 values")
    strings = weight(raw=b"abcd", dtype=TensorProto.STRING)
    case(out, "string_raw_data.onnx", model_bytes(make_model(add_graph(strings))), 1,
         "string tensor with raw_data")
    bad_input = make_model(add_graph(weight()))
    bad_input.graph.input[0].type.tensor_type.elem_type = 99
    case(out, "input_unknown_dtype.onnx", model_bytes(bad_input), 1,
         "graph input 'X': unknown data type 99")

    # --- Nesting beyond protobuf's recursion limit (If inside If, 200 levels) -----------------
    # Built as bytes from the innermost graph outwards so no library recursion limit applies.
    def field(num, payload):
        def varint(v):
            out_b = bytearray()
            while v >= 0x80:
                out_b.append((v & 0x7F) | 0x80)
                v >>= 7
            out_b.append(v)
            return bytes(out_b)
        return varint((num << 3) | 2) + varint(len(payload)) + payload

    leaf = helper.make_graph(
        [helper.make_node("Identity", ["X"], ["Y"], name="leaf")], "leaf", [],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])])
    graph_bytes = leaf.SerializeToString(deterministic=True)
    for _ in range(200):
        # AttributeProto{name=then_branch(1), type=GRAPH(20), g=graph(6)}
        attr = field(1, b"then_branch") + bytes([0xA0, 0x01, 5]) + field(6, graph_bytes)
        # NodeProto{input(1), op_type(4), attribute(5)}; outputs are left out to keep it small.
        node = field(1, b"c") + field(4, b"If") + field(5, attr)
        # GraphProto{node(1)}
        graph_bytes = field(1, node)
    shell = make_model(helper.make_graph([], "placeholder", [], []))
    shell.ClearField("graph")
    deep = model_bytes(shell) + field(7, graph_bytes)
    case(out, "deep_nesting.onnx", deep, 1, "nested too deeply")

    # --- EXPECTED.txt --------------------------------------------------------------------------
    width = max(len(n) for n, _, _ in CASES) + 2
    with open(os.path.join(out, "EXPECTED.txt"), "w") as f:
        f.write("# Generated by tools/scripts/make_bad_inputs.py; do not edit by hand.\n")
        f.write("# <file>  <exit code>  <substring of the one-line error>\n")
        f.write("# missing.onnx is deliberately absent; ext_symlink.bin and ext_hardlink.bin are\n")
        f.write("# created by tests/cli/cli_contract_test.sh in its copy of this folder.\n")
        f.write("# checker_* files load; the ONNX checker refuses them when the model is saved.\n")
        for name, code, sub in CASES:
            f.write(f"{name.ljust(width)}{code}  {sub}\n")


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT)
    assert onnx.__version__.startswith("1.12"), "use Debian's /usr/bin/python3 (python3-onnx 1.12)"
    build(out)
    print(f"wrote {len(CASES)} cases to {out}")


if __name__ == "__main__":
    main()
