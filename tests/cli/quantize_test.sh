#!/usr/bin/env bash
# `compressor quantize` through the real CLI on the demo models and held-out digits: every mode
# and format writes a model that passes the independent checker, the ledger lists every layer,
# a saved calibration table gives the same bytes again, old opsets are converted, include and
# exclude patterns work, and bad options are usage errors.
#
#   bash tests/cli/quantize_test.sh BUILD/tools/compressor/compressor SOURCE_DIR
#
# The last line is `N passed, M failed`.
set -u

# shellcheck source=cli_testing.sh
source "$(dirname "${BASH_SOURCE[0]}")/cli_testing.sh"
cli_testing_setup quantize_test "$@"

ops() {  # MODEL -> sorted set of op types
  $PY -c "import onnx,sys; print(' '.join(sorted({n.op_type for n in onnx.load(sys.argv[1]).graph.node})))" "$1"
}

digits_samples
CNN=$SRC/models/tiny_cnn/model.onnx
DATA=(--data "$TMP/eval" --labels "$TMP/eval_labels.npy" --calibration-data "$TMP/calib")

run "static QDQ on tiny_cnn with gates" 0 "gates:" -- \
  quantize "$CNN" -o "$TMP/cnn.qdq.onnx" "${DATA[@]}" --gate 'top1_agreement>=0.99' \
  --gate 'accuracy_drop<=0.02' --save-calibration "$TMP/cnn.calib.json" --report "$TMP/qdq.json"
checker "static QDQ" "$TMP/cnn.qdq.onnx"
check "static QDQ: ledger has every Conv and the Gemm" "$TMP/qdq.json" \
  "len(r['passes'][-1]['changes'])==5 and r['passes'][-1]['nodes_skipped']==[] and r['passes'][-1]['name']=='quantize-static'"
check "static QDQ: calibrated on the calibration folder" "$TMP/qdq.json" \
  "r['passes'][-1]['calibration']['tensors']>0 and '100 samples' in r['calibration'] and r['samples']['count']==100"
check "static QDQ: weight bytes shrink" "$TMP/qdq.json" "r['output']['bytes'] < 0.4*r['model']['bytes']"
[[ -s $TMP/cnn.calib.json ]] && ok "static QDQ: calibration table saved" || fail "calibration table" "missing"

run "static QDQ again from the saved table" 0 "" -- \
  quantize "$CNN" -o "$TMP/cnn.qdq2.onnx" --calibration-table "$TMP/cnn.calib.json" --no-drift
cmp -s "$TMP/cnn.qdq.onnx" "$TMP/cnn.qdq2.onnx" &&
  ok "the same calibration table gives the same bytes" ||
  fail "same table, same bytes" "outputs differ"

# Quality options, measured on the held-out digits against plain static int8.
run "--bias-correction" 0 "bias corrected" -- \
  quantize "$CNN" -o "$TMP/cnn.bc.onnx" "${DATA[@]}" --bias-correction --report "$TMP/bc.json"
checker "bias correction" "$TMP/cnn.bc.onnx"
check "--bias-correction lowers the drift on held-out digits" "$TMP/bc.json" \
  "r['drift']['logits']['rel_l2'] < json.load(open('$TMP/qdq.json'))['drift']['logits']['rel_l2']"
run "--equalize" 0 "equalize-cross-layer" -- \
  quantize "$CNN" -o "$TMP/cnn.cle.onnx" "${DATA[@]}" --equalize --no-per-channel --report "$TMP/cle.json"
checker "cross-layer equalization" "$TMP/cnn.cle.onnx"
check "--equalize: the pass equalized Conv pairs and changed no output in float" "$TMP/cle.json" \
  "r['passes'][-3]['name'] == 'equalize-cross-layer' and len(r['passes'][-3]['changes']) > 0 and r['passes'][-3]['drift']['logits']['rel_l2'] < 1e-5"
TT=$SRC/models/tiny_transformer/model.onnx
run "--smooth-quant 0.5 with --bias-correction on the transformer" 0 "smooth-quant" -- \
  quantize "$TT" -o "$TMP/tt.sq.onnx" --samples 16 --smooth-quant 0.5 --bias-correction \
  --report "$TMP/sq.json" --save-calibration "$TMP/sq.calib.json"
checker "SmoothQuant" "$TMP/tt.sq.onnx"
check "--smooth-quant: layers smoothed, exact in float" "$TMP/sq.json" \
  "r['passes'][-3]['name'] == 'smooth-quant' and len(r['passes'][-3]['changes']) > 0 and r['passes'][-3]['drift']['logits']['rel_l2'] < 1e-5"
run "--smooth-quant from its saved table" 0 "" -- \
  quantize "$TT" -o "$TMP/tt.sq2.onnx" --smooth-quant 0.5 --bias-correction --no-drift \
  --calibration-table "$TMP/sq.calib.json"
cmp -s "$TMP/tt.sq.onnx" "$TMP/tt.sq2.onnx" && ok "--smooth-quant: the saved table gives the same bytes" \
  || fail "--smooth-quant table reuse" "outputs differ"
run "--smooth-quant outside [0, 1] is a usage error" 2 "--smooth-quant" -- \
  quantize "$TT" -o "$TMP/x.onnx" --smooth-quant 1.5
run "--mode dynamic --bias-correction calibrates the input means" 0 "bias corrected" -- \
  quantize "$CNN" -o "$TMP/cnn.dyn.bc.onnx" --mode dynamic "${DATA[@]}" --bias-correction
checker "dynamic with bias correction" "$TMP/cnn.dyn.bc.onnx"

run "static QOperator" 0 "" -- \
  quantize "$CNN" -o "$TMP/cnn.qop.onnx" --format qoperator "${DATA[@]}" --report "$TMP/qop.json"
checker "static QOperator" "$TMP/cnn.qop.onnx"
[[ " $(ops "$TMP/cnn.qop.onnx") " == *" QLinearConv "* ]] && ok "QOperator: QLinearConv in the output" ||
  fail "QOperator ops" "$(ops "$TMP/cnn.qop.onnx")"

for m in tiny_mlp tiny_transformer; do
  MODEL=$SRC/models/$m/model.onnx
  run "dynamic on $m" 0 "" -- quantize "$MODEL" -o "$TMP/$m.dyn.onnx" --mode dynamic \
    --report "$TMP/$m.dyn.json"
  checker "dynamic $m" "$TMP/$m.dyn.onnx"
  run "weight-only on $m" 0 "" -- quantize "$MODEL" -o "$TMP/$m.w.onnx" --mode weight-only
  checker "weight-only $m" "$TMP/$m.w.onnx"
done
check "dynamic: ledger lists quantized layers" "$TMP/tiny_mlp.dyn.json" \
  "len(r['passes'][-1]['changes'])==3"

for method in percentile entropy mse; do
  run "static with --calibration $method" 0 "" -- \
    quantize "$CNN" -o "$TMP/cnn.$method.onnx" --calibration "$method" \
    --calibration-data "$TMP/calib" --no-drift
done

run "exclude by op type" 0 "excluded by --exclude" -- \
  quantize "$CNN" -o "$TMP/cnn.ex.onnx" --exclude Gemm "${DATA[@]}" --report "$TMP/ex.json"
check "exclude: the Gemm stays float and says why" "$TMP/ex.json" \
  "len(r['passes'][-1]['changes'])==4 and any('excluded' in s['reason'] for s in r['passes'][-1]['nodes_skipped'])"
run "include that matches nothing is a usage error" 2 "--include" -- \
  quantize "$CNN" -o "$TMP/x.onnx" --include 'no_such_layer' "${DATA[@]}"
run "bad regex is a usage error" 2 "regular expression" -- \
  quantize "$CNN" -o "$TMP/x.onnx" --exclude '(' "${DATA[@]}"
run "unknown calibration method is a usage error" 2 "" -- \
  quantize "$CNN" -o "$TMP/x.onnx" --calibration average
run "table and calibration data together is a usage error" 2 "cannot be combined" -- \
  quantize "$CNN" -o "$TMP/x.onnx" --calibration-table "$TMP/cnn.calib.json" --calibration-data "$TMP/calib"
run "calibration options with --mode dynamic are a usage error" 2 "apply to --mode static" -- \
  quantize "$CNN" -o "$TMP/x.onnx" --mode dynamic --calibration-data "$TMP/calib"
# Options the chosen mode would ignore are refused, naming the option.
run "--activation-type with --mode dynamic is a usage error" 2 "--activation-type applies to --mode static" -- \
  quantize "$CNN" -o "$TMP/x.onnx" --mode dynamic --activation-type uint8
run "--symmetric-activations with --mode weight-only is a usage error" 2 "--symmetric-activations applies" -- \
  quantize "$CNN" -o "$TMP/x.onnx" --mode weight-only --symmetric-activations
run "--calibration with --mode dynamic is a usage error" 2 "--calibration applies to --mode static" -- \
  quantize "$CNN" -o "$TMP/x.onnx" --mode dynamic --calibration entropy
run "--percentile without --calibration percentile is a usage error" 2 "--percentile applies" -- \
  quantize "$CNN" -o "$TMP/x.onnx" --calibration entropy --percentile 99.9
run "--reduce-range with --mode weight-only is a usage error" 2 "--reduce-range applies" -- \
  quantize "$CNN" -o "$TMP/x.onnx" --mode weight-only --reduce-range
run "--asymmetric-weights with per-channel static weights is a usage error" 2 "needs --no-per-channel" -- \
  quantize "$CNN" -o "$TMP/x.onnx" --asymmetric-weights
run "--save-calibration into a missing folder is a usage error naming it" 2 "--save-calibration" -- \
  quantize "$CNN" -o "$TMP/x.onnx" --save-calibration "$TMP/no/such/dir/t.json"
[[ ! -e $TMP/x.onnx ]] && ok "nothing written on usage errors" || fail "usage errors" "wrote output"

# Asymmetric per-tensor weights: each weight's [min, max] with its own zero point, in static
# and dynamic mode.
for mode in static dynamic; do
  data=("${DATA[@]}")
  [[ $mode == dynamic ]] && data=(--data "$TMP/eval")  # dynamic mode does not calibrate
  run "--asymmetric-weights --no-per-channel, --mode $mode" 0 "asymmetric" -- \
    quantize "$CNN" -o "$TMP/cnn.asym.$mode.onnx" --mode "$mode" --no-per-channel \
    --asymmetric-weights "${data[@]}" --report "$TMP/asym.$mode.json"
  checker "asymmetric weights, $mode" "$TMP/cnn.asym.$mode.onnx"
done
$PY - "$TMP/cnn.asym.static.onnx" <<'PYEOF' && ok "asymmetric static weights: some zero point is not 0" || fail "asymmetric static weights" "every weight zero point is 0"
import sys
import onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
zps = [init[n.input[2]] for n in m.graph.node
       if n.op_type == "DequantizeLinear" and n.input[0] in init and init[n.input[0]].dtype.name == "int8"
       and len(n.input) > 2]
sys.exit(0 if any(int(z) != 0 for z in zps) else 1)
PYEOF
check "asymmetric static weights: drift on held-out digits stays small" "$TMP/asym.static.json" \
  "r['drift']['logits']['cosine'] > 0.999"

# An opset-9 model is moved to 13 for per-channel scales, and the report says so.
$PY - "$TMP/old.onnx" <<'PYEOF'
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
rng = np.random.RandomState(0)
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])
w = numpy_helper.from_array(rng.randn(4, 3, 3, 3).astype(np.float32), "w")
b = numpy_helper.from_array(rng.randn(4).astype(np.float32), "b")
g = helper.make_graph([helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
                       helper.make_node("Relu", ["c"], ["y"], name="relu")], "old", [x], [y], [w, b])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 9)])
m.ir_version = 4
onnx.checker.check_model(m)
onnx.save(m, sys.argv[1])
PYEOF
run "opset 9 model: converted to 13 and quantized" 0 "opset 9 -> 13" -- \
  quantize "$TMP/old.onnx" -o "$TMP/old.q.onnx" --report "$TMP/old.json"
checker "opset-9 model quantized" "$TMP/old.q.onnx"
run "opset 9 model: --no-per-channel needs only opset 10" 0 "opset 9 -> 10" -- \
  quantize "$TMP/old.onnx" -o "$TMP/old.q10.onnx" --no-per-channel

# Depthwise 3x3 layers hold 9 int8 weights per channel: their per-channel scales are stored as
# float16 behind a Cast by default (smaller file), float32 with --float32-scales.
half_casts() {  # MODEL -> number of Cast nodes reading a float16 initializer
  $PY -c "
import onnx, sys
g = onnx.load(sys.argv[1]).graph
half = {t.name for t in g.initializer if t.data_type == onnx.TensorProto.FLOAT16}
print(sum(n.op_type == 'Cast' and n.input[0] in half for n in g.node))" "$1"
}
$PY - "$TMP/dw.onnx" <<'PYEOF'
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
rng = np.random.RandomState(1)
c = 128
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, 8, 8])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c, 8, 8])
w = numpy_helper.from_array(rng.randn(c, 1, 3, 3).astype(np.float32), "w")
b = numpy_helper.from_array(rng.randn(c).astype(np.float32), "b")
g = helper.make_graph([helper.make_node("Conv", ["x", "w", "b"], ["y"], group=c, pads=[1, 1, 1, 1],
                                        name="dw")], "dw", [x], [y], [w, b])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
onnx.save(m, sys.argv[1])
PYEOF
for mode in static dynamic weight-only; do
  run "$mode: float16 scales for a 128-channel depthwise layer" 0 "" -- \
    quantize "$TMP/dw.onnx" -o "$TMP/dw.$mode.onnx" --mode "$mode" --no-drift
  run "$mode: --float32-scales" 0 "" -- \
    quantize "$TMP/dw.onnx" -o "$TMP/dw.$mode.f32.onnx" --mode "$mode" --no-drift --float32-scales
  checker "$mode with float16 scales" "$TMP/dw.$mode.onnx"
  h16=$(half_casts "$TMP/dw.$mode.onnx") h32=$(half_casts "$TMP/dw.$mode.f32.onnx")
  [[ $h16 == 1 && $h32 == 0 ]] &&
    ok "$mode: a Cast reads float16 scales, none with --float32-scales" ||
    fail "$mode float16 scales" "Casts of float16 initializers: $h16 / $h32"
  (( $(stat -c %s "$TMP/dw.$mode.onnx") < $(stat -c %s "$TMP/dw.$mode.f32.onnx") )) &&
    ok "$mode: float16 scales make the file smaller" ||
    fail "$mode float16 scales" "not smaller"
done

# A scalar Mul after a Conv folds into the Conv before quantizing (one float op fewer in the
# int8 model; the output's rounding grid scales with it); the Add after it stays, since a shift
# would move that grid.
$PY - "$TMP/affine.onnx" <<'PYEOF'
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
rng = np.random.RandomState(2)
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])
inits = [numpy_helper.from_array(rng.randn(4, 3, 3, 3).astype(np.float32), "w"),
         numpy_helper.from_array(np.array(0.7, np.float32), "k"),
         numpy_helper.from_array(np.array(0.2, np.float32), "d"),
         numpy_helper.from_array(rng.randn(4, 4, 1, 1).astype(np.float32), "w2")]
g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
                       helper.make_node("Mul", ["c", "k"], ["m"], name="scale"),
                       helper.make_node("Add", ["m", "d"], ["a"], name="shift"),
                       helper.make_node("HardSigmoid", ["a"], ["h"], name="gate"),
                       helper.make_node("Conv", ["h", "w2"], ["y"], name="conv2")],
                      "affine", [x], [y], inits)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
onnx.save(m, sys.argv[1])
PYEOF
run "quantize folds a scalar Mul after a Conv" 0 "" -- \
  quantize "$TMP/affine.onnx" -o "$TMP/affine.q.onnx" --report "$TMP/affine.json"
check "the Mul folds into the Conv, the Add stays" "$TMP/affine.json" \
  "[(p['name'], p['nodes_changed']) for p in r['passes'] if p['name'] == 'fold-conv-affine'] == [('fold-conv-affine', 1)]"
[[ " $(ops "$TMP/affine.q.onnx") " != *" Mul "* && " $(ops "$TMP/affine.q.onnx") " == *" Add "* ]] &&
  ok "quantized model: no Mul, the Add kept" || fail "scale fold" "ops: $(ops "$TMP/affine.q.onnx")"
checker "scale folded and quantized" "$TMP/affine.q.onnx"

# --auto-fallback: a model whose second MatMul reads one channel 1000x larger than the rest, so
# per-tensor int8 on its input wipes out the other channels and breaks the gate; the search
# returns that layer (and only what it must) to float until the gate passes.
$PY - "$TMP/outlier.onnx" <<'PYEOF'
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
rng = np.random.RandomState(1)
scale = np.ones(32, np.float32)
scale[3] = 1000.0
w2 = rng.randn(32, 10).astype(np.float32)
w2[3, :] *= 1e-3  # the large channel contributes like the others in float
inits = [numpy_helper.from_array(rng.randn(16, 32).astype(np.float32), "w1"),
         numpy_helper.from_array(scale, "scale"),
         numpy_helper.from_array(w2, "w2"),
         numpy_helper.from_array(rng.randn(10, 10).astype(np.float32), "w3")]
nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="mm1"),
         helper.make_node("Relu", ["h"], ["r"], name="relu"),
         helper.make_node("Mul", ["r", "scale"], ["s"], name="outlier"),
         helper.make_node("MatMul", ["s", "w2"], ["t"], name="mm2"),
         helper.make_node("MatMul", ["t", "w3"], ["logits"], name="mm3")]
g = helper.make_graph(nodes, "outlier",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                      [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], inits)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
onnx.checker.check_model(m)
onnx.save(m, sys.argv[1])
PYEOF
FB=(quantize "$TMP/outlier.onnx" --samples 32 --gate "cosine>=0.999")
run "plain int8 breaks the gate on the outlier model (exit 3)" 3 "FAIL" -- \
  "${FB[@]}" -o "$TMP/outlier.q.onnx" --report "$TMP/outlier.json"
check "plain int8: cosine below the gate" "$TMP/outlier.json" "r['drift']['logits']['cosine'] < 0.999"
run "--auto-fallback finds a mixed-precision model that passes" 0 "left in float" -- \
  "${FB[@]}" -o "$TMP/outlier.fb.onnx" --report "$TMP/outlier.fb.json" --auto-fallback
checker "auto-fallback output" "$TMP/outlier.fb.onnx"
check "auto-fallback: mm2 is in float, and not every layer is" "$TMP/outlier.fb.json" \
  "r['fallback']['met'] and 'mm2' in r['fallback']['float_layers'] and len(r['fallback']['float_layers']) < 3"
check "auto-fallback: the result meets the gate" "$TMP/outlier.fb.json" \
  "r['exit_code'] == 0 and r['drift']['logits']['cosine'] >= 0.999 and all(g['ok'] for g in r['gates'])"
check "auto-fallback: the ledger says why mm2 stayed float" "$TMP/outlier.fb.json" \
  "any(s['node'] == 'mm2' and 'returned to float for accuracy' in s['reason'] for s in r['passes'][-1]['nodes_skipped'])"
check "auto-fallback: the other layers are quantized" "$TMP/outlier.fb.json" \
  "{c['node'] for c in r['passes'][-1]['changes']} >= {'mm1', 'mm3'} - set(r['fallback']['float_layers'])"
check "auto-fallback: every quantized layer is ranked, with the drift its step saved" "$TMP/outlier.fb.json" \
  "len(r['fallback']['ranking']) == 3 and all(l['saved'] is not None for l in r['fallback']['ranking'] if l['step'])"
[[ $(ops "$TMP/outlier.fb.onnx") == *QuantizeLinear* ]] && ok "auto-fallback output still has int8 layers" \
  || fail "auto-fallback output" "no QuantizeLinear left: $(ops "$TMP/outlier.fb.onnx")"
run "--auto-fallback output is deterministic" 0 "" -- \
  "${FB[@]}" -o "$TMP/outlier.fb2.onnx" --auto-fallback
cmp -s "$TMP/outlier.fb.onnx" "$TMP/outlier.fb2.onnx" && ok "auto-fallback: same bytes twice" \
  || fail "auto-fallback determinism" "outputs differ"
run "--auto-fallback with the gate already met changes nothing" 0 "every layer changed" -- \
  quantize "$TMP/outlier.onnx" --samples 8 --gate "cosine>=0.5" --auto-fallback -o "$TMP/easy.onnx"
# A gate no model meets (not even float): every step fails, the fully quantized model is written
# and the exit code is 3 (--on-exceed revert undoes the cleanup passes the gate also rejects).
run "--auto-fallback when the gates cannot be met (exit 3)" 3 "cannot be met" -- \
  quantize "$TMP/outlier.onnx" --samples 8 --gate "cosine>1" --on-exceed revert --auto-fallback \
  -o "$TMP/outlier.nm.onnx" --report "$TMP/outlier.nm.json"
check "auto-fallback, not met: all layers tried, the quantized model kept" "$TMP/outlier.nm.json" \
  "not r['fallback']['met'] and r['fallback']['steps'][-1]['float_layers'] == 3 and len(r['passes'][-1]['changes']) == 3 and r['exit_code'] == 3"
run "--auto-fallback without a drift gate is a usage error" 2 "--auto-fallback needs a drift --gate" -- \
  quantize "$TMP/outlier.onnx" -o "$TMP/x.onnx" --auto-fallback --gate "size_ratio<=0.5"
run "--fallback-step without --auto-fallback is a usage error" 2 "--fallback-step" -- \
  quantize "$TMP/outlier.onnx" -o "$TMP/x.onnx" --fallback-step 2

# Opset 9 with a Softmax whose input rank shape inference cannot know (Squeeze without axes): the
# converter needs it, so the rank is measured on one run and the last axis written as -1.
$PY - "$TMP/old_softmax.onnx" <<'PYEOF'
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
rng = np.random.RandomState(2)
w = numpy_helper.from_array(rng.randn(6, 6).astype(np.float32), "w")
g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
                       helper.make_node("Squeeze", ["h"], ["s"], name="squeeze"),
                       helper.make_node("Softmax", ["s"], ["y"], axis=1, name="softmax")],
                      "old_softmax", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["a", "b"])], [w])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 9)])
m.ir_version = 4
onnx.checker.check_model(m)
onnx.save(m, sys.argv[1])
PYEOF
run "opset 9 Softmax of unknown rank: per-channel after measuring the rank" 0 "axis written as -1" -- \
  quantize "$TMP/old_softmax.onnx" -o "$TMP/old_softmax.q.onnx" --samples 4 --report "$TMP/old_softmax.json"
checker "opset-9 Softmax model quantized per channel" "$TMP/old_softmax.q.onnx"
check "opset-9 Softmax model: per-channel weights at opset 13" "$TMP/old_softmax.json" \
  "any('opset 9 -> 13' in n for p in r['passes'] for n in p['notes']) and 'per channel' in r['passes'][-1]['changes'][0]['detail']"

cli_testing_summary
