"""Writes a QDQ depthwise Conv unit whose requantizations sit within float rounding of a half step.

x scale = y scale = 1 and every weight scale is m = float32(1/42) moved 3 float steps up, the
multiplier of a unit that once disagreed with ONNX Runtime. With 3x3 weights of 1 and a bias of
21 + 7c, one integer sum in 42 is 42k + 21, whose product with m lies a hair above k + 1/2: float
evaluation of the dequantized Conv rounds such values either way, the exact integer sum times m
rounds them up. ONNX Runtime fuses the unit into QLinearConv (int8 activations each with one
reader, so its int8-to-uint8 conversion applies), as our executor does.

Usage: make_near_tie_unit.py OUT.onnx [CHANNELS]
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    out = sys.argv[1]
    c = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    m = np.float32(1 / 42)
    for _ in range(3):
        m = np.nextafter(m, np.float32(1))
    scales = np.full(c, m, np.float32)
    inits = [
        numpy_helper.from_array(np.array(1.0, np.float32), "xs"),
        numpy_helper.from_array(np.array(5, np.int8), "xz"),
        numpy_helper.from_array(np.ones((c, 1, 3, 3), np.int8), "w"),
        numpy_helper.from_array(scales, "ws"),
        numpy_helper.from_array(np.zeros(c, np.int8), "wz"),
        numpy_helper.from_array(np.arange(c, dtype=np.int32) * 7 + 21, "b"),
        numpy_helper.from_array(scales.copy(), "bs"),  # x scale x weight scale, exactly
        numpy_helper.from_array(np.zeros(c, np.int32), "bz"),
        numpy_helper.from_array(np.array(1.0, np.float32), "ys"),
        numpy_helper.from_array(np.array(-3, np.int8), "yz"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["X", "xs", "xz"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
        helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"], axis=0),
        helper.make_node("DequantizeLinear", ["b", "bs", "bz"], ["bd"], axis=0),
        helper.make_node("Conv", ["xd", "wd", "bd"], ["c"], name="depthwise", group=c,
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("QuantizeLinear", ["c", "ys", "yz"], ["yq"]),
        helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["Y"]),
    ]
    graph = helper.make_graph(nodes, "near_tie_unit",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, c, 32, 32])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, c, 32, 32])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, out)


if __name__ == "__main__":
    main()
