#!/usr/bin/env bash
# Drift, gates and exit codes through the real CLI: `eval` against itself (zero drift) and
# against a perturbed model (every metric checked against numpy), per-pass drift rows of a
# two-pass pipeline, gates that fail (exit 3, model and report still written), --on-exceed
# revert, malformed gates (exit 2 listing the metric names), errors (exit 1), sensitivity.
#
#   bash tests/cli/drift_gates_test.sh BUILD/tools/compressor/compressor SOURCE_DIR
#
# The last line is `N passed, M failed`.
set -u

# shellcheck source=cli_testing.sh
source "$(dirname "${BASH_SOURCE[0]}")/cli_testing.sh"
cli_testing_setup drift_gates_test "$@"

D=$TMP/m
mkdir -p "$D" "$TMP/out.d"
$PY "$SRC/tests/cli/drift_oracle.py" make "$D" || { echo "cannot build the test models"; exit 1; }
DATA=(--data "$D/data" --labels "$D/labels.npy")

# --- eval ----------------------------------------------------------------------------------
run "eval: a model against itself" 0 "drift of the candidate" -- \
  eval "$D/ref.onnx" "$D/ref.onnx" "${DATA[@]}" --report "$TMP/self.json" --gate 'max_abs<=0'
check "eval: zero drift against itself" "$TMP/self.json" \
  "all(d['max_abs']==0 and d['rmse']==0 and d['cosine']==1 and d['snr_db'] is None and d['top1_agreement']==1 for d in r['drift'].values()) and r['exit_code']==0"

run "eval: perturbed weights" 0 "" -- \
  eval "$D/ref.onnx" "$D/cand.onnx" "${DATA[@]}" --report "$TMP/pert.json"
if $PY "$SRC/tests/cli/drift_oracle.py" check "$D" "$TMP/pert.json" >"$TMP/oracle" 2>&1; then
  ok "eval: every metric equals numpy's ($(cat "$TMP/oracle"))"
else
  fail "eval: metrics against numpy" "$(cat "$TMP/oracle")"
fi
check "eval: report keys" "$TMP/pert.json" \
  "list(r)==['command','model','candidate','samples','drift','gates','output','notes','exit_code'] and r['samples']['count']==6"

run "eval: a gate that fails exits 3" 3 "FAIL" -- \
  eval "$D/ref.onnx" "$D/cand.onnx" "${DATA[@]}" --gate 'cosine>=0.99' --gate 'feat.map.cosine>=0.99' \
  --report "$TMP/gatefail.json"
check "eval: failed gate in the report" "$TMP/gatefail.json" \
  "r['exit_code']==3 and [g['ok'] for g in r['gates']]==[False,True] and r['gates'][0]['output']=='logits'"
run "eval: accuracy_drop gate" 3 "accuracy_drop" -- \
  eval "$D/ref.onnx" "$D/cand.onnx" "${DATA[@]}" --gate 'accuracy_drop<=0.01'
run "eval: top1 gate that holds" 0 "" -- \
  eval "$D/ref.onnx" "$D/cand.onnx" "${DATA[@]}" --gate 'feat.map.top1_agreement>=1'

run "eval: malformed gate is a usage error listing the metrics" 2 "valid:" -- \
  eval "$D/ref.onnx" "$D/cand.onnx" --gate 'cosin>=0.9'
grep -qF "size_ratio" "$TMP/err" && grep -qF "top1_agreement" "$TMP/err" &&
  ok "eval: the usage error names size_ratio and top1_agreement" ||
  fail "eval: usage error lists metrics" "$(cat "$TMP/err")"
run "eval: gate without an operator" 2 "valid:" -- eval "$D/ref.onnx" "$D/cand.onnx" --gate 'cosine'
run "eval: accuracy gate without labels is a usage error" 2 "labels" -- \
  eval "$D/ref.onnx" "$D/cand.onnx" --gate 'accuracy_drop<=0.01'
run "eval: bad --random-range" 2 "--random-range" -- \
  eval "$D/ref.onnx" "$D/cand.onnx" --random-range 1,0
run "eval: missing candidate is an error" 1 "no-such.onnx" -- \
  eval "$D/ref.onnx" "$D/no-such.onnx"
mkdir -p "$TMP/baddata/s0"
$PY -c "import numpy as np; np.save('$TMP/baddata/s0/x.npy', np.zeros((1,15),np.float32))"
run "eval: a sample of the wrong shape names the file" 1 "x.npy" -- \
  eval "$D/ref.onnx" "$D/cand.onnx" --data "$TMP/baddata"
run "eval: random samples, seeded" 0 "8 random samples" -- \
  eval "$D/ref.onnx" "$D/cand.onnx" --report "$TMP/r1.json"
run "eval: same seed, same report" 0 "" -- eval "$D/ref.onnx" "$D/cand.onnx" --report "$TMP/r2.json"
cmp -s "$TMP/r1.json" "$TMP/r2.json" && ok "eval: reports are byte-identical on reruns" ||
  fail "eval: deterministic report" "$(diff "$TMP/r1.json" "$TMP/r2.json" | head -5)"
run "eval: one thread" 0 "" -- eval "$D/ref.onnx" "$D/cand.onnx" --threads 1 --report "$TMP/r3.json"
cmp -s "$TMP/r1.json" "$TMP/r3.json" && ok "eval: the thread count does not change the report" ||
  fail "eval: report independent of threads" "$(diff "$TMP/r1.json" "$TMP/r3.json" | head -5)"
run "eval: --report into a missing folder is a usage error" 2 "does not exist" -- \
  eval "$D/ref.onnx" "$D/cand.onnx" --report "$TMP/no/such/dir/r.json"

# --- pipeline: drift after every pass ------------------------------------------------------
PASSES='prune-magnitude{sparsity=0.5},quantize-weights'
run "optimize: two lossy passes with drift rows" 0 "drift against the previous pass" -- \
  optimize "$D/ref.onnx" -o "$TMP/out.d/two.onnx" --passes "$PASSES" "${DATA[@]}" \
  --report "$TMP/two.json"
check "optimize: two passes, each with cumulative and delta drift" "$TMP/two.json" \
  "[p['name'] for p in r['passes']]==['prune-magnitude','quantize-weights'] and all(set(p['drift'])=={'logits','feat.map'} and set(p['delta'])=={'logits','feat.map'} for p in r['passes'])"
check "optimize: the first pass's delta is its cumulative drift" "$TMP/two.json" \
  "r['passes'][0]['drift']==r['passes'][0]['delta']"
check "optimize: the second pass moves the drift" "$TMP/two.json" \
  "r['passes'][1]['drift']['logits']['rmse']!=r['passes'][0]['drift']['logits']['rmse'] and r['passes'][1]['delta']['logits']['rmse']>0"
check "optimize: report keys per pass" "$TMP/two.json" \
  "all(k in r['passes'][0] for k in ['name','options','seconds','bytes_before','bytes_after','params_before','params_after','flops_before','flops_after','nodes_changed','nodes_skipped','drift']) and r['output']['bytes']>0 and len(r['model']['sha256'])==64"
run "eval: the written model against the original" 0 "" -- \
  eval "$D/ref.onnx" "$TMP/out.d/two.onnx" "${DATA[@]}" --report "$TMP/two-eval.json"
if $PY -c "
import json,sys
a=json.load(open('$TMP/two.json'))['drift']; b=json.load(open('$TMP/two-eval.json'))['drift']
sys.exit(0 if all(abs(a[o][k]-b[o][k])<=1e-9*max(1,abs(b[o][k])) for o in b for k in b[o] if isinstance(b[o][k],float)) else 1)"; then
  ok "optimize: the pipeline's final drift equals eval of the written model"
else
  fail "optimize: final drift vs eval" "differs"
fi

run "optimize: a drift gate that cannot be met exits 3" 3 "STOPPED HERE" -- \
  optimize "$D/ref.onnx" -o "$TMP/out.d/stop.onnx" --passes "$PASSES" "${DATA[@]}" \
  --gate 'cosine>=0.9999' --report "$TMP/stop.json"
[[ -s $TMP/out.d/stop.onnx ]] && ok "optimize: the model is written although a gate failed" ||
  fail "optimize: model written on gate failure" "missing"
check "optimize: the report says which gate and where it stopped" "$TMP/stop.json" \
  "r['exit_code']==3 and len(r['passes'])==1 and r['passes'][0]['verdict']=='stopped' and r['passes'][0]['gates_exceeded'][0]['expr']=='cosine>=0.9999' and r['gates'][0]['ok']==False"

# revert: pruning 90% breaks the gate and is undone; quantization keeps it.
run "optimize: --on-exceed revert undoes the offending pass" 0 "REVERTED" -- \
  optimize "$D/ref.onnx" -o "$TMP/out.d/revert.onnx" \
  --passes 'prune-magnitude{sparsity=0.9},quantize-weights' "${DATA[@]}" \
  --gate 'cosine>=0.99' --on-exceed revert --report "$TMP/revert.json"
check "optimize: reverted pass in the report, the next one kept" "$TMP/revert.json" \
  "[p['verdict'] for p in r['passes']]==['reverted','kept'] and r['gates'][0]['ok']"
run "optimize: the later pass alone" 0 "" -- \
  optimize "$D/ref.onnx" -o "$TMP/out.d/qonly.onnx" --passes quantize-weights "${DATA[@]}"
cmp -s "$TMP/out.d/revert.onnx" "$TMP/out.d/qonly.onnx" &&
  ok "optimize: after revert the model is exactly as if the pass had not run" ||
  fail "optimize: revert leaves the model as before the pass" "outputs differ"

# model-level gates
run "optimize: size gate met" 0 "" -- \
  optimize "$D/big.onnx" -o "$TMP/out.d/big-q.onnx" --passes quantize-weights \
  --gate 'size_ratio<=0.35' --report "$TMP/size.json"
check "optimize: size_ratio is the on-disk ratio" "$TMP/size.json" \
  "abs(r['gates'][0]['value'] - r['output']['bytes']/r['model']['bytes'])<1e-12 and r['output']['bytes']==$(stat -c %s "$TMP/out.d/big-q.onnx")"
run "optimize: params gate not met exits 3" 3 "params_ratio" -- \
  optimize "$D/big.onnx" -o "$TMP/out.d/big-q2.onnx" --passes quantize-weights \
  --gate 'params_ratio<=0.5' --report "$TMP/params.json"
[[ -s $TMP/out.d/big-q2.onnx && -s $TMP/params.json ]] &&
  ok "optimize: model and report written on a failed size gate" ||
  fail "optimize: outputs on failed size gate" "missing"
run "optimize: macs gate" 0 "" -- \
  optimize "$D/ref.onnx" -o "$TMP/out.d/m.onnx" --gate 'macs_ratio<=1'
run "optimize: drift gate with --no-drift is a usage error" 2 "--no-drift" -- \
  optimize "$D/ref.onnx" -o "$TMP/out.d/x.onnx" --no-drift --gate 'cosine>=0.9'
run "optimize: malformed gate is a usage error" 2 "valid:" -- \
  optimize "$D/ref.onnx" -o "$TMP/out.d/x.onnx" --gate 'size_ratio=<0.3'
[[ ! -e $TMP/out.d/x.onnx ]] && ok "optimize: nothing written on a usage error" ||
  fail "optimize: usage error wrote output" "exists"
run "optimize: --on-exceed takes fail or revert" 2 "" -- \
  optimize "$D/ref.onnx" -o "$TMP/out.d/x.onnx" --on-exceed ignore

# --- sensitivity ---------------------------------------------------------------------------
run "sensitivity: prune ranks the layers" 0 "per-layer sensitivity" -- \
  sensitivity "$D/ref.onnx" --pass prune --pass-options sparsity=0.8 "${DATA[@]}" \
  --report "$TMP/sens.json"
check "sensitivity: both MatMul layers, worst first" "$TMP/sens.json" \
  "sorted(l['node'] for l in r['sensitivity']['layers'])==['fc','proj'] and r['sensitivity']['layers'][0]['score']>=r['sensitivity']['layers'][1]['score']"
for p in quantize factorize; do
  run "sensitivity: --pass $p" 0 "per-layer sensitivity" -- \
    sensitivity "$D/ref.onnx" --pass $p "${DATA[@]}" --metric cosine
done
run "sensitivity: unknown pass is a usage error" 2 "unknown pass" -- \
  sensitivity "$D/ref.onnx" --pass shrink
run "sensitivity: --pass is required" 2 "--pass" -- sensitivity "$D/ref.onnx"
run "sensitivity: a pass that does not work layer by layer" 2 "layer by layer" -- \
  sensitivity "$D/ref.onnx" --pass fold-batchnorm
run "optimize: --report into a missing folder is refused before any work" 2 "does not exist" -- \
  optimize "$D/ref.onnx" -o "$TMP/out.d/nr.onnx" --report "$TMP/no/such/dir/r.json"
[[ ! -e $TMP/out.d/nr.onnx ]] && ok "optimize: nothing written when --report cannot be" ||
  fail "optimize: bad --report wrote the model" "exists"

cli_testing_summary
