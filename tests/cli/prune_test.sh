#!/usr/bin/env bash
# `compressor prune` through the real CLI on the demo models and held-out digits: every form
# writes a model that passes the independent checker and has the sparsity or the shapes it
# promises, the same options give the same bytes, structured pruning shrinks parameters and MACs,
# and bad option combinations are usage errors naming the option.
#
#   bash tests/cli/prune_test.sh BUILD/tools/compressor/compressor SOURCE_DIR
#
# The last line is `N passed, M failed`.
set -u

# shellcheck source=cli_testing.sh
source "$(dirname "${BASH_SOURCE[0]}")/cli_testing.sh"
cli_testing_setup prune_test "$@"

model_check() {  # NAME MODEL PYTHON_EXPR over w (name -> numpy array of every initializer, sparse
                 # ones densified) and g (the graph)
  if $PY - "$2" "$3" >"$TMP/mc" 2>&1 <<'PYEOF'
import sys
import numpy as np
import onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
g = m.graph
w = {t.name: numpy_helper.to_array(t) for t in g.initializer}
def densify(s):
    dense = np.zeros(int(np.prod(s.dims)), dtype=numpy_helper.to_array(s.values).dtype)
    dense[numpy_helper.to_array(s.indices).reshape(-1)] = numpy_helper.to_array(s.values)
    return dense.reshape(tuple(s.dims))
for s in g.sparse_initializer:
    w[s.values.name] = densify(s)
# Sparse weights are written as Constant nodes holding a sparse_value.
sparse = [n for n in g.node if n.op_type == "Constant" and n.attribute[0].name == "sparse_value"]
for n in sparse:
    w[n.output[0]] = densify(n.attribute[0].sparse_tensor)
def weight(op, i=1):
    """The weights of the nodes of this op type, in graph order."""
    return [w[n.input[i]] for n in g.node if n.op_type == op and n.input[i] in w]
sys.exit(0 if eval(sys.argv[2]) else 1)
PYEOF
  then
    ok "$1"
  else
    fail "$1" "$3 is false for $2 $(tail -c 300 "$TMP/mc")"
  fi
}

digits_samples
CNN=$SRC/models/tiny_cnn/model.onnx
MLP=$SRC/models/tiny_mlp/model.onnx
TT=$SRC/models/tiny_transformer/model.onnx
DATA=(--data "$TMP/eval" --labels "$TMP/eval_labels.npy" --calibration-data "$TMP/calib")

# Unstructured.
run "magnitude 50% on tiny_cnn" 0 "prune-unstructured" -- \
  prune "$CNN" -o "$TMP/cnn.mag.onnx" --sparsity 0.5 --data "$TMP/eval" --labels "$TMP/eval_labels.npy" \
  --report "$TMP/mag.json"
checker "magnitude" "$TMP/cnn.mag.onnx"
model_check "magnitude: every Conv and the Gemm half zeros" "$TMP/cnn.mag.onnx" \
  "all(abs((x == 0).mean() - 0.5) < 0.01 for x in weight('Conv') + weight('Gemm'))"
check "magnitude: every layer in the ledger, drift measured" "$TMP/mag.json" \
  "r['passes'][-1]['name']=='prune-unstructured' and len(r['passes'][-1]['changes'])==5 and 'accuracy' in r['drift']['logits']"
run "magnitude again gives the same bytes" 0 "" -- \
  prune "$CNN" -o "$TMP/cnn.mag2.onnx" --sparsity 0.5 --no-drift
cmp -s "$TMP/cnn.mag.onnx" "$TMP/cnn.mag2.onnx" && ok "same options, same bytes" ||
  fail "same options, same bytes" "outputs differ"
run "wanda 50% on tiny_cnn (calibrated on held-out digits)" 0 "" -- \
  prune "$CNN" -o "$TMP/cnn.wanda.onnx" --method wanda --sparsity 0.5 "${DATA[@]}" --report "$TMP/wanda.json"
checker "wanda" "$TMP/cnn.wanda.onnx"
check "wanda: calibrated on the calibration folder" "$TMP/wanda.json" \
  "r['passes'][-1]['calibration'] is not None and r['passes'][-1]['calibration']['tensors']>0"
run "sparsegpt 50% on tiny_cnn" 0 "" -- \
  prune "$CNN" -o "$TMP/cnn.sgpt.onnx" --method sparsegpt --sparsity 0.5 "${DATA[@]}" --report "$TMP/sgpt.json"
checker "sparsegpt" "$TMP/cnn.sgpt.onnx"
model_check "sparsegpt: half of every layer is zero" "$TMP/cnn.sgpt.onnx" \
  "all(abs((x == 0).mean() - 0.5) < 0.01 for x in weight('Conv') + weight('Gemm'))"
check "sparsegpt: every layer pruned" "$TMP/sgpt.json" "len(r['passes'][-1]['changes'])==5"
run "2:4 on tiny_transformer" 0 "" -- \
  prune "$TT" -o "$TMP/tt.24.onnx" --pattern 2:4 --samples 4 --report "$TMP/tt24.json"
checker "2:4" "$TMP/tt.24.onnx"
model_check "2:4: at most 2 nonzeros in every 4 along K of every MatMul" "$TMP/tt.24.onnx" \
  "all(((x.reshape(x.shape[0] // 4, 4, -1) != 0).sum(axis=1) <= 2).all() for x in weight('MatMul') if x.ndim == 2)"
run "--sparse-storage at 80% stores the weights sparse" 0 "" -- \
  prune "$MLP" -o "$TMP/mlp.sparse.onnx" --sparsity 0.8 --sparse-storage --samples 4 --report "$TMP/sparse.json"
checker "sparse storage" "$TMP/mlp.sparse.onnx"
model_check "sparse storage: the Gemm weights are stored sparse, 80% zeros" "$TMP/mlp.sparse.onnx" \
  "len(sparse) == 3 and all(abs((x == 0).mean() - 0.8) < 0.01 for x in weight('Gemm'))"
check "sparse storage: the file shrinks" "$TMP/sparse.json" "r['output']['bytes'] < 0.75 * r['model']['bytes']"

# Scope, overrides and layer selection through the CLI.
run "--scope global" 0 "global threshold" -- \
  prune "$CNN" -o "$TMP/cnn.global.onnx" --sparsity 0.5 --scope global --no-drift
model_check "--scope global: half of all weights zero, layers pruned unequally" "$TMP/cnn.global.onnx" \
  "abs(sum((x == 0).sum() for x in weight('Conv') + weight('Gemm')) / sum(x.size for x in weight('Conv') + weight('Gemm')) - 0.5) < 0.01 and len({round(float((x == 0).mean()), 2) for x in weight('Conv') + weight('Gemm')}) > 1"
run "--layer-sparsity, --skip-first-last, --exclude" 0 "" -- \
  prune "$CNN" -o "$TMP/cnn.sel.onnx" --sparsity 0.5 --layer-sparsity '/conv2/.*=0.8' \
  --skip-first-last --exclude /res_conv1/Conv --no-drift
model_check "selection: conv1 and fc dense, conv2 at 80%, res_conv1 dense, res_conv2 at 50%" "$TMP/cnn.sel.onnx" \
  "[round(float((x == 0).mean()), 2) for x in weight('Conv') + weight('Gemm')] == [0.0, 0.8, 0.0, 0.5, 0.0]"
run "--layer-sparsity matching no layer" 2 "matches no layer" -- \
  prune "$CNN" -o "$TMP/x.onnx" --layer-sparsity 'nosuchlayer=0.5' --no-drift
run "--structured channels --round-to 8 --criterion l2" 0 "" -- \
  prune "$CNN" -o "$TMP/cnn.r8.onnx" --structured channels --ratio 0.3 --round-to 8 --criterion l2 \
  --no-drift
model_check "--round-to 8: every Conv keeps a multiple of 8 channels" "$TMP/cnn.r8.onnx" \
  "all(x.shape[0] % 8 == 0 for x in weight('Conv'))"

# Structured.
run "structured 30% channels on tiny_cnn" 0 "prune-channels" -- \
  prune "$CNN" -o "$TMP/cnn.ch.onnx" --structured channels --ratio 0.3 --data "$TMP/eval" \
  --labels "$TMP/eval_labels.npy" --report "$TMP/ch.json"
checker "structured" "$TMP/cnn.ch.onnx"
check "structured: parameters and MACs shrink" "$TMP/ch.json" \
  "r['output']['params'] < 0.8 * r['model']['params'] and r['output']['macs'] < 0.8 * r['model']['macs']"
run "structured with --reconstruct" 0 "prune-channels" -- \
  prune "$CNN" -o "$TMP/cnn.rc.onnx" --structured channels --ratio 0.3 --reconstruct \
  --data "$TMP/eval" --labels "$TMP/eval_labels.npy" --calibration-data "$TMP/calib" --report "$TMP/rc.json"
checker "reconstruct" "$TMP/cnn.rc.onnx"
check "reconstruct: same shapes as plain structured, lower output drift" "$TMP/rc.json" \
  "r['output']['params'] == json.load(open('$TMP/ch.json'))['output']['params'] and r['drift']['logits']['rel_l2'] < json.load(open('$TMP/ch.json'))['drift']['logits']['rel_l2']"
check "reconstruct: the report gives the re-fit per layer" "$TMP/rc.json" \
  "any('re-fitted on 100 samples' in c['detail'] for p in r['passes'] for c in p.get('changes', []))"
run "structured on the transformer's feed-forward blocks" 0 "" -- \
  prune "$TT" -o "$TMP/tt.ch.onnx" --structured channels --ratio 0.5 --samples 4 --report "$TMP/ttch.json"
checker "structured transformer" "$TMP/tt.ch.onnx"

# Budget-driven structured pruning: per-group ratios chosen for a parameter target.
run "--target params_ratio=0.6 on tiny_cnn" 0 "budget" -- \
  prune "$CNN" -o "$TMP/cnn.budget.onnx" --structured channels --target params_ratio=0.6 \
  --data "$TMP/eval" --report "$TMP/budget.json"
checker "budget" "$TMP/cnn.budget.onnx"
if $PY - "$CNN" "$TMP/cnn.budget.onnx" >"$TMP/pc" 2>&1 <<'PYEOF'
import sys
import numpy as np
import onnx
count = [sum(int(np.prod(t.dims)) for t in onnx.load(f).graph.initializer) for f in sys.argv[1:]]
print(count)
sys.exit(0 if count[1] <= 0.6 * count[0] else 1)
PYEOF
then ok "budget: at most 0.6 of the input's parameters"; else fail "budget: parameters" "$(cat "$TMP/pc")"; fi
check "budget: the search is reported, with ratios per group" "$TMP/budget.json" \
  "r['budget']['reached'] and r['budget']['achieved'] <= 0.6 and r['budget']['evaluations'] > 0 and any(g['ratio'] > 0 for g in r['budget']['groups']) and 'group_ratios=' in r['passes'][[p['name'] for p in r['passes']].index('prune-channels')]['options']"
run "--target with a gate it cannot meet: exit 3" 3 "rel_l2" -- \
  prune "$CNN" -o "$TMP/cnn.budget3.onnx" --structured channels --target macs_ratio=0.6 \
  --samples 4 --gate 'rel_l2<=1e-9' --report "$TMP/budget3.json"
check "budget gate failure: report and model written" "$TMP/budget3.json" \
  "r['exit_code'] == 3 and r['budget']['reached'] and r['output'] is not None"
run "--target that cannot be reached: exit 3" 3 "cannot be reached" -- \
  prune "$CNN" -o "$TMP/cnn.budget4.onnx" --structured channels --target params_ratio=0.001 \
  --samples 2 --report "$TMP/budget4.json"
check "unreachable target: reported" "$TMP/budget4.json" \
  "r['exit_code'] == 3 and not r['budget']['reached'] and any('cannot be reached' in n for n in r['notes'])"
run "--ratio with --target" 2 "--target" -- \
  prune "$CNN" -o "$TMP/x.onnx" --structured channels --ratio 0.3 --target params_ratio=0.5
run "--target with --no-drift" 2 "--target" -- \
  prune "$CNN" -o "$TMP/x.onnx" --structured channels --target params_ratio=0.5 --no-drift
run "--target size_ratio=0.5" 2 "--target" -- \
  prune "$CNN" -o "$TMP/x.onnx" --structured channels --target size_ratio=0.5
run "--target params_ratio=1" 2 "--target" -- \
  prune "$CNN" -o "$TMP/x.onnx" --structured channels --target params_ratio=1
run "--target without --structured" 2 "--target" -- \
  prune "$CNN" -o "$TMP/x.onnx" --target params_ratio=0.5

# Usage errors name the option.
run "--ratio without --structured" 2 "--ratio" -- prune "$CNN" -o "$TMP/x.onnx" --ratio 0.3
run "--reconstruct without --structured" 2 "--reconstruct" -- \
  prune "$CNN" -o "$TMP/x.onnx" --reconstruct
run "--pattern with --structured" 2 "--pattern" -- \
  prune "$CNN" -o "$TMP/x.onnx" --structured channels --pattern 2:4
run "--calibration-samples with magnitude" 2 "--calibration-samples" -- \
  prune "$CNN" -o "$TMP/x.onnx" --calibration-samples 4
run "a malformed --pattern" 2 "pattern" -- prune "$CNN" -o "$TMP/x.onnx" --pattern 4:2
run "--sparsity 1" 2 "sparsity" -- prune "$CNN" -o "$TMP/x.onnx" --sparsity 1
[[ ! -e $TMP/x.onnx ]] && ok "no output written on a usage error" || fail "usage error output" "x.onnx exists"

cli_testing_summary
