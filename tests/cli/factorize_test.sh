#!/usr/bin/env bash
# `compressor factorize` through the real CLI on the demo models and held-out digits: every rank
# rule writes a model that passes the independent checker with the ranks it promises, the same
# options give the same bytes, data-aware factorization fits the transformer's outputs better
# than plain SVD at the same ranks, a budget meets its params_ratio, and bad option combinations
# are usage errors naming the option.
#
#   bash tests/cli/factorize_test.sh BUILD/tools/compressor/compressor SOURCE_DIR
#
# The last line is `N passed, M failed`.
set -u

# shellcheck source=cli_testing.sh
source "$(dirname "${BASH_SOURCE[0]}")/cli_testing.sh"
cli_testing_setup factorize_test "$@"

digits_samples
# The transformer reads [batch, 8, 8] and the MLP [batch, 64]: the same digits, reshaped.
$PY - "$TMP" <<'PYEOF'
import os, sys
import numpy as np
tmp = sys.argv[1]
for name in ("calib", "eval"):
    for shape, suffix in (((1, 8, 8), "_tr"), ((1, 64), "_mlp")):
        for s in sorted(os.listdir(os.path.join(tmp, name))):
            d = os.path.join(tmp, name + suffix, s)
            os.makedirs(d)
            x = np.load(os.path.join(tmp, name, s, "input.npy"))
            np.save(os.path.join(d, "input.npy"), x.reshape(shape))
PYEOF
CNN=$SRC/models/tiny_cnn/model.onnx
MLP=$SRC/models/tiny_mlp/model.onnx
TT=$SRC/models/tiny_transformer/model.onnx
LABELS=(--labels "$TMP/eval_labels.npy")

# ranks NAME MODEL PYTHON_EXPR: r maps the output of every factorized layer's second node to its
# rank (the inner dimension of its two factors), read from the written model.
ranks() {
  if $PY - "$2" "$3" >"$TMP/rk" 2>&1 <<'PYEOF'
import sys
import onnx
m = onnx.load(sys.argv[1])
w = {t.name: list(t.dims) for t in m.graph.initializer}
r = {}
for n in m.graph.node:
    if len(n.input) > 1 and n.input[1].endswith("_svd_v") or "_svd_v" in (n.input[1] if len(n.input) > 1 else ""):
        d = w[n.input[1]]
        r[n.output[0]] = d[-2] if n.op_type == "MatMul" or n.op_type == "Gemm" else d[1]
sys.exit(0 if eval(sys.argv[2]) else 1)
PYEOF
  then
    ok "$1"
  else
    fail "$1" "$3 is false for $2 $(tail -c 300 "$TMP/rk")"
  fi
}

run "--rank-ratio 0.25 on tiny_mlp" 0 "factorize-svd" -- \
  factorize "$MLP" -o "$TMP/mlp.rr.onnx" --rank-ratio 0.25 --data "$TMP/eval_mlp" "${LABELS[@]}" \
  --report "$TMP/rr.json"
checker "rank-ratio" "$TMP/mlp.rr.onnx"
ranks "rank-ratio: ceil(0.25 * min(m, n)) per layer" "$TMP/mlp.rr.onnx" \
  "sorted(r.values()) == [3, 16, 16]"
check "rank-ratio: every layer in the ledger, params and drift reported" "$TMP/rr.json" \
  "len(r['passes'][[p['name'] for p in r['passes']].index('factorize-svd')]['changes'])==3 and r['output']['params'] < 0.5 * r['model']['params'] and 'accuracy' in r['drift']['logits']"
run "the same options give the same bytes" 0 "" -- \
  factorize "$MLP" -o "$TMP/mlp.rr2.onnx" --rank-ratio 0.25 --no-drift
cmp -s "$TMP/mlp.rr.onnx" "$TMP/mlp.rr2.onnx" && ok "same options, same bytes" ||
  fail "same options, same bytes" "outputs differ"

run "--rank 6 --round-to 4" 0 "" -- factorize "$MLP" -o "$TMP/mlp.rank.onnx" --rank 6 --round-to 4 --no-drift
ranks "--rank 6 rounded to 8 in every layer" "$TMP/mlp.rank.onnx" "sorted(r.values()) == [8, 8, 8]"
run "--rank 9 leaves the 64x10 head (no saving at rank 9)" 0 "no saving at rank 9" -- \
  factorize "$MLP" -o "$TMP/mlp.rank9.onnx" --rank 9 --no-drift
ranks "--rank 9: two layers" "$TMP/mlp.rank9.onnx" "sorted(r.values()) == [9, 9]"

run "--energy 0.95 on tiny_cnn with --conv auto" 0 "" -- \
  factorize "$CNN" -o "$TMP/cnn.energy.onnx" --energy 0.95 --conv auto --data "$TMP/eval" \
  "${LABELS[@]}" --report "$TMP/energy.json"
checker "energy" "$TMP/cnn.energy.onnx"
check "energy: every factorized layer keeps at least 0.95 of its energy" "$TMP/energy.json" \
  "all(float(c['detail'].split('energy kept ')[1].split(',')[0]) >= 0.95 for c in r['passes'][[p['name'] for p in r['passes']].index('factorize-svd')]['changes'])"

run "--conv spatial on tiny_cnn" 0 "" -- \
  factorize "$CNN" -o "$TMP/cnn.spatial.onnx" --conv spatial --rank-ratio 0.25 --no-drift
checker "spatial" "$TMP/cnn.spatial.onnx"
if $PY - "$TMP/cnn.spatial.onnx" >"$TMP/sp" 2>&1 <<'PYEOF'
import sys
import onnx
m = onnx.load(sys.argv[1])
k = [list(next(a.ints for a in n.attribute if a.name == "kernel_shape")) for n in m.graph.node if n.op_type == "Conv"]
sys.exit(0 if [3, 1] in k and [1, 3] in k else 1)
PYEOF
then ok "spatial: k x 1 and 1 x k Convs"; else fail "spatial kernels" "$(cat "$TMP/sp")"; fi

run "--svd randomized" 0 "" -- factorize "$MLP" -o "$TMP/mlp.rand.onnx" --svd randomized --rank-ratio 0.25 --no-drift
checker "randomized" "$TMP/mlp.rand.onnx"

# Data-aware against plain at the same ranks on the transformer (calibrated on 100 held-out
# digits, measured on 100 others).
run "plain SVD on tiny_transformer" 0 "" -- \
  factorize "$TT" -o "$TMP/tt.plain.onnx" --rank-ratio 0.5 --data "$TMP/eval_tr" "${LABELS[@]}" \
  --report "$TMP/tt.plain.json"
run "--data-aware on tiny_transformer" 0 "" -- \
  factorize "$TT" -o "$TMP/tt.aware.onnx" --rank-ratio 0.5 --data-aware \
  --calibration-data "$TMP/calib_tr" --data "$TMP/eval_tr" "${LABELS[@]}" --report "$TMP/tt.aware.json"
checker "data-aware" "$TMP/tt.aware.onnx"
if $PY - "$TMP/tt.plain.json" "$TMP/tt.aware.json" >"$TMP/da" 2>&1 <<'PYEOF'
import json, sys
p, a = (json.load(open(f)) for f in sys.argv[1:])
same = p["output"]["params"] == a["output"]["params"]
better = a["drift"]["logits"]["rel_l2"] < p["drift"]["logits"]["rel_l2"]
print(p["drift"]["logits"]["rel_l2"], a["drift"]["logits"]["rel_l2"])
sys.exit(0 if same and better else 1)
PYEOF
then ok "data-aware: lower rel_l2 than plain at the same parameters ($(cat "$TMP/da"))"
else fail "data-aware vs plain" "$(cat "$TMP/da")"; fi

run "--data-aware with --calibration-samples (random samples)" 0 "data-aware" -- \
  factorize "$MLP" -o "$TMP/mlp.cs.onnx" --rank-ratio 0.25 --data-aware --calibration-samples 16 \
  --no-drift
checker "data-aware on random calibration samples" "$TMP/mlp.cs.onnx"
run "--target params_ratio=0.6 on tiny_mlp" 0 "budget" -- \
  factorize "$MLP" -o "$TMP/mlp.budget.onnx" --target params_ratio=0.6 --data "$TMP/eval_mlp" \
  --gate 'top1_agreement>=0' --report "$TMP/budget.json"
checker "budget" "$TMP/mlp.budget.onnx"
check "budget: reached, reported with a rank cut per layer" "$TMP/budget.json" \
  "r['budget']['reached'] and r['budget']['achieved'] <= 0.6 and r['budget']['evaluations'] > 0 and 'group_ratios=' in r['passes'][[p['name'] for p in r['passes']].index('factorize-svd')]['options']"
run "--target with a gate it cannot meet: exit 3" 3 "" -- \
  factorize "$MLP" -o "$TMP/mlp.budget3.onnx" --target params_ratio=0.3 --data "$TMP/eval_mlp" \
  "${LABELS[@]}" --gate 'accuracy_drop<=0.0'

# Usage errors name the option.
run "two rank rules" 2 "--rank, --rank-ratio, --energy and --target exclude each other" -- \
  factorize "$MLP" -o "$TMP/x.onnx" --rank 4 --energy 0.9
run "--energy out of range" 2 "--energy" -- factorize "$MLP" -o "$TMP/x.onnx" --energy 1.5
run "--conv unknown" 2 "--conv" -- factorize "$MLP" -o "$TMP/x.onnx" --conv diagonal
run "--rank 0" 2 "--rank must be at least 1" -- factorize "$MLP" -o "$TMP/x.onnx" --rank 0
run "--rank-ratio 0" 2 "--rank-ratio must be in (0, 1]" -- \
  factorize "$MLP" -o "$TMP/x.onnx" --rank-ratio 0
run "--svd unknown" 2 "--svd" -- factorize "$MLP" -o "$TMP/x.onnx" --svd fast
run "--target malformed" 2 "--target" -- \
  factorize "$MLP" -o "$TMP/x.onnx" --target params=0.5 --data "$TMP/eval_mlp"
run "--calibration-data without --data-aware" 2 "--data-aware" -- \
  factorize "$MLP" -o "$TMP/x.onnx" --calibration-data "$TMP/calib_mlp"
run "--target with --no-drift" 2 "--no-drift" -- \
  factorize "$MLP" -o "$TMP/x.onnx" --target params_ratio=0.5 --no-drift
run "--include matching nothing" 2 "matches no layer" -- \
  factorize "$MLP" -o "$TMP/x.onnx" --include no_such_layer --no-drift
[[ ! -e $TMP/x.onnx ]] && ok "no output written on a usage error" || fail "usage error" "wrote $TMP/x.onnx"

cli_testing_summary
