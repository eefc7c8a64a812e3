#!/usr/bin/env bash
# `compressor batch` through the real CLI over a zoo of ten files (the three demo models, three
# small models made by tools/scripts/make_batch_zoo.py, and four broken files): broken files are
# error rows with the worker's error line, never fatal; the summary's numbers are the workers'
# reports'; exit codes 1 / 3 / 0; a batch stopped half way leaves no worker behind and --resume
# redoes only what was not complete; three shards merged give the single run's summary; a
# manifest with per-model recipes; usage errors.
#
#   bash tests/cli/batch_test.sh BUILD/tools/compressor/compressor SOURCE_DIR
#
# The last line is `N passed, M failed`.
set -u

# shellcheck source=cli_testing.sh
source "$(dirname "${BASH_SOURCE[0]}")/cli_testing.sh"
cli_testing_setup batch_test "$@"

ZOO=$TMP/zoo
$PY "$SRC/tools/scripts/make_batch_zoo.py" "$SRC" "$ZOO" >"$TMP/zoo.txt" || {
  echo "FAIL  make_batch_zoo.py"
  exit 1
}
GOOD=$(awk '$1 == "good" {print $2}' "$TMP/zoo.txt" | sort | tr '\n' ' ')
BROKEN=$(awk '$1 == "broken" {print $2}' "$TMP/zoo.txt" | sort | tr '\n' ' ')

# A small recipe: weight-only int8 and a few random samples to measure drift, gate loose enough
# for every good model.
cat >"$TMP/recipe.yaml" <<'EOF'
data:
  samples: 4
passes:
  - pass: quantize-weights
gates:
  - "cosine>=0.5"
EOF
# The same with a gate nothing meets.
cat >"$TMP/strict.yaml" <<'EOF'
data:
  samples: 4
passes:
  - pass: quantize-weights
gates:
  - "size_ratio<=0.01"
EOF

# summary_check NAME SUMMARY_JSON PYTHON_EXPR: s is the summary, rows its models by name,
# good and broken the model names.
summary_check() {
  if $PY - "$2" "$3" "$GOOD" "$BROKEN" >"$TMP/sc" 2>&1 <<'PYEOF'
import json, math, os, sys
s = json.load(open(sys.argv[1]))
rows = {r["name"]: r for r in s["models"]}
good, broken = sys.argv[3].split(), sys.argv[4].split()
sys.exit(0 if eval(sys.argv[2]) else 1)
PYEOF
  then
    ok "$1"
  else
    fail "$1" "$3 is false for $2 $(tail -c 400 "$TMP/sc")"
  fi
}

# --- One run over the folder ---------------------------------------------------------------
run "batch over a folder with broken files: exit 1, summary still written" 1 "models failed" -- \
  -q batch "$ZOO" --recipe "$TMP/recipe.yaml" --out-dir "$TMP/full" -j 2 --threads 1
cp "$TMP/out" "$TMP/full.md"
S=$TMP/full/summary.json
summary_check "every file is a row, in sorted order" "$S" \
  "[r['name'] for r in s['models']] == sorted(good + broken) and \
   [r['index'] for r in s['models']] == list(range(len(good) + len(broken))) and \
   s['models_total'] == len(good) + len(broken) and s['shard'] is None and s['exit_code'] == 1"
summary_check "broken files are error rows with the worker's one-line error" "$S" \
  "all(rows[n]['status'] == 'error' and rows[n]['exit_code'] == 1 and rows[n]['error'] \
       and '\n' not in rows[n]['error'] and rows[n]['size_ratio'] is None for n in broken)"
summary_check "good models are ok with size, parameter and MAC ratios, drift and gates" "$S" \
  "all(rows[n]['status'] == 'ok' and rows[n]['exit_code'] == 0 and rows[n]['error'] is None \
       and 0 < rows[n]['size_ratio'] < 1 and rows[n]['params_ratio'] is not None \
       and rows[n]['macs_ratio'] is not None and rows[n]['worst_cosine'] is not None \
       and rows[n]['gates'] == 'pass' and rows[n]['reused'] is False for n in good)"
# The summary's numbers are the workers' reports' (read independently here).
summary_check "ratios and worst drift equal the per-model reports'" "$S" \
  "all((lambda rep: rows[n]['size_ratio'] == rep['output']['bytes'] / rep['model']['bytes'] \
        and rows[n]['params_ratio'] == rep['output']['params'] / rep['model']['params'] \
        and rows[n]['worst_cosine'] == min(d['cosine'] for d in rep['drift'].values()) \
        and rows[n]['worst_rel_l2'] == max(d['rel_l2'] for d in rep['drift'].values()))( \
        json.load(open(os.path.join(os.path.dirname(sys.argv[1]), rows[n]['folder'], \
        'report.json')))) for n in good)"
summary_check "each model folder holds model, reports, log and completion record" "$S" \
  "all(os.path.isfile(os.path.join(os.path.dirname(sys.argv[1]), n, f)) for n in good \
       for f in ['model.onnx', 'report.json', 'report.html', 'worker.log', 'done.json']) and \
   all(os.path.isfile(os.path.join(os.path.dirname(sys.argv[1]), n, 'worker.log')) \
       and not os.path.exists(os.path.join(os.path.dirname(sys.argv[1]), n, 'model.onnx')) \
       for n in broken)"
summary_check "completion records hold the input's SHA-256 and the exit code" "$S" \
  "all((lambda d: d['input_sha256'] == __import__('hashlib').sha256(open(os.path.join( \
        os.path.dirname(sys.argv[1]), '../zoo', n + '.onnx'), 'rb').read()).hexdigest() \
        and d['exit_code'] == rows[n]['exit_code'])(json.load(open(os.path.join( \
        os.path.dirname(sys.argv[1]), n, 'done.json')))) for n in good + broken)"
for m in $GOOD; do
  checker "output of $m" "$TMP/full/$m/model.onnx"
  break
done
if [[ $(grep -c '^| ' "$TMP/full.md") -eq $((1 + $(wc -w <<<"$GOOD $BROKEN"))) ]] &&
  grep -q "broken_text | error |" "$TMP/full.md"; then
  ok "Markdown table on stdout, one row per model"
else
  fail "Markdown table on stdout" "$(cat "$TMP/full.md")"
fi
if $PY -c "import csv,sys; rows=list(csv.DictReader(open(sys.argv[1]))); \
  sys.exit(0 if len(rows) == $(wc -w <<<"$GOOD $BROKEN") and rows[0]['name'] == 'broken_checker' \
  and rows[0]['status'] == 'error' else 1)" "$TMP/full/summary.csv"; then
  ok "summary.csv: one row per model"
else
  fail "summary.csv" "$(head -3 "$TMP/full/summary.csv")"
fi
H=$TMP/full/report.html
if grep -q '^<!DOCTYPE html>' "$H" && ! grep -qE 'http|<script|<link|src=' "$H" &&
  [[ $(grep -o '<circle' "$H" | wc -l) -eq $(wc -w <<<"$GOOD") ]] && grep -q broken_truncated "$H"; then
  ok "report.html: self-contained, one point per good model, every row"
else
  fail "report.html" "not self-contained or points missing"
fi

# --- Stopped half way, then --resume ---------------------------------------------------------
# Two quick models, one that measures drift on 3000 samples (it is running when the batch is
# stopped, unless the machine is very fast), then three more.
cat >"$TMP/slow.yaml" <<'EOF'
data:
  samples: 3000
passes:
  - pass: quantize-weights
EOF
mkdir -p "$TMP/k"
cp "$TMP/recipe.yaml" "$TMP/k/recipe.yaml"
cat >"$TMP/k/zoo.yaml" <<'EOF'
recipe: recipe.yaml
models:
  - ../zoo/gemm2.onnx
  - ../zoo/matmul_add.onnx
  - {model: ../zoo/cnn.onnx, recipe: ../slow.yaml}
  - ../zoo/mlp.onnx
  - ../zoo/broken_text.onnx
  - ../zoo/transformer.onnx
EOF
"$BIN" batch "$TMP/k/zoo.yaml" --out-dir "$TMP/kill" -j 1 >"$TMP/kill.out" 2>"$TMP/kill.err" &
BATCH=$!
# Wait (no time limit of our own: ctest's TIMEOUT is the limit) until two models are complete,
# then stop the batch as Ctrl-C or Kubernetes would.
count_complete() {
  $PY - "$TMP/kill" <<'PYEOF'
import glob, json, sys
n = 0
for p in glob.glob(sys.argv[1] + "/*/done.json"):
    try:
        n += json.load(open(p))["exit_code"] in (0, 3)
    except Exception:
        pass
print(n)
PYEOF
}
while kill -0 "$BATCH" 2>/dev/null && [[ $(count_complete) -lt 2 ]]; do sleep 0.05; done
kill -TERM "$BATCH" 2>/dev/null
wait "$BATCH"
KILL_RC=$?
# Processes whose command line names the batch's output folder (this check's own excepted).
survivors=$(OUT="$TMP/kill/" $PY -c "
import os
n = 0
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        cmd = open('/proc/%s/cmdline' % pid, 'rb').read().decode(errors='replace')
    except OSError:
        continue
    n += int(pid) != os.getpid() and os.environ['OUT'] in cmd
print(n)")
if [[ $survivors -eq 0 ]]; then ok "stopped batch: no worker left running"; else
  fail "stopped batch" "$survivors workers still running"
fi
# What was complete when it stopped, read from the folders (not from the batch's summary).
COMPLETE=$($PY - "$TMP/kill" "$ZOO" <<'PYEOF'
import hashlib, json, os, sys
out, zoo = sys.argv[1], sys.argv[2]
done = []
for name in sorted(os.listdir(out)):
    d = os.path.join(out, name)
    try:
        rec = json.load(open(os.path.join(d, "done.json")))
    except Exception:
        continue
    src = hashlib.sha256(open(os.path.join(zoo, name + ".onnx"), "rb").read()).hexdigest()
    if rec["exit_code"] in (0, 3) and rec["input_sha256"] == src and all(
            os.path.isfile(os.path.join(d, f)) for f in ["model.onnx", "report.json", "report.html"]):
        done.append(name)
print(" ".join(done))
PYEOF
)
if [[ $(wc -w <<<"$COMPLETE") -lt 5 ]]; then
  if [[ $KILL_RC -eq 1 ]] && grep -q "interrupted by SIGTERM" "$TMP/kill.err"; then
    summary_check "stopped batch: exit 1, the summary marks the rest not run" \
      "$TMP/kill/summary.json" \
      "any(r['status'] == 'not_run' or r['ended_by'] == 'interrupted' for r in s['models'])"
  else
    fail "stopped batch" "exit $KILL_RC; $(tail -c 300 "$TMP/kill.err")"
  fi
fi
echo "note  stopped with $(wc -w <<<"$COMPLETE") of 5 good models complete: $COMPLETE"
run "--resume finishes the batch" 1 "reused by --resume" -- \
  -q batch "$TMP/k/zoo.yaml" --out-dir "$TMP/kill" -j 2 --resume
summary_check "--resume reused exactly the complete models and redid the rest" \
  "$TMP/kill/summary.json" \
  "sorted(n for n, r in rows.items() if r['reused']) == sorted('$COMPLETE'.split()) and \
   all(r['status'] == ('error' if n == 'broken_text' else 'ok') for n, r in rows.items()) and \
   len(rows) == 6"
# Changing a recipe reruns the models that use it, and only those.
echo "# changed" >>"$TMP/k/recipe.yaml"
run "--resume after a recipe changed" 1 "" -- -q batch "$TMP/k/zoo.yaml" --out-dir "$TMP/kill" --resume
summary_check "--resume after a recipe changed redoes its models only" "$TMP/kill/summary.json" \
  "[n for n, r in rows.items() if r['reused']] == ['cnn']"

# --- Three shards and a merge ----------------------------------------------------------------
for i in 0 1 2; do
  timeout 300 "$BIN" batch "$ZOO" --recipe "$TMP/recipe.yaml" --out-dir "$TMP/shard$i" \
    --shard $i/3 >"$TMP/shard$i.out" 2>&1
done
summary_check "shard 1/3 holds models 1, 4, 7, ..." "$TMP/shard1/summary.json" \
  "[r['index'] for r in s['models']] == list(range(1, s['models_total'], 3)) and \
   s['shard'] == {'index': 1, 'count': 3}"
run "merge of three shards" 1 "models failed" -- \
  -q batch --merge "$TMP/shard2" "$TMP/shard0" "$TMP/shard1" --out-dir "$TMP/merged"
# The single run used one thread per worker, the shards two: the numbers must not change.
if $PY - "$TMP/full/summary.json" "$TMP/merged/summary.json" <<'PYEOF'; then
import json, sys
def strip(s):
    s.pop("seconds")
    for r in s["models"]:
        r.pop("seconds")
        r.pop("folder")
    return s
a, b = (strip(json.load(open(p))) for p in sys.argv[1:])
bad = [k for k in a if k != "models" and a[k] != b.get(k)]
for x, y in zip(a["models"], b["models"]):
    for k in x:
        if x[k] != y.get(k):
            bad.append("%s.%s: %r != %r" % (x["name"], k, x[k], y.get(k)))
bad += [] if len(a["models"]) == len(b["models"]) else ["model count"]
print("\n".join(bad))
sys.exit(1 if bad else 0)
PYEOF
  ok "merged shards equal the single run's summary (apart from times and folders)"
else
  fail "merged shards" "differ from the single run"
fi
summary_check "merged rows point at the shards' folders" "$TMP/merged/summary.json" \
  "all(os.path.isfile(os.path.join(os.path.dirname(sys.argv[1]), r['folder'], 'done.json')) \
       for r in s['models'])"
run "merge with --shard" 2 "--merge only reads shard summaries" -- \
  batch --merge "$TMP/shard0" --shard 0/3 --out-dir "$TMP/merged2"
run "merge with a shard missing" 2 "shards missing: 1/3" -- \
  batch --merge "$TMP/shard0" "$TMP/shard2" --out-dir "$TMP/merged2"

# --- A manifest: per-model recipes, names, a failed gate -------------------------------------
mkdir -p "$TMP/m"
cat >"$TMP/m/zoo.yaml" <<EOF
recipe: ../recipe.yaml
models:
  - ../zoo/mlp.onnx
  - model: ../zoo/gemm2.onnx
    name: strict_gemm
    recipe: ../strict.yaml
EOF
run "manifest with a failed gate: exit 3" 3 "failed a gate" -- \
  batch "$TMP/m/zoo.yaml" --out-dir "$TMP/mout"
summary_check "manifest: names, order, per-model recipe and gate verdicts" "$TMP/mout/summary.json" \
  "[r['name'] for r in s['models']] == ['mlp', 'strict_gemm'] and \
   rows['mlp']['status'] == 'ok' and rows['strict_gemm']['status'] == 'gate_failed' and \
   rows['strict_gemm']['failed_gates'] == ['size_ratio<=0.01'] and \
   rows['strict_gemm']['recipe_sha256'] != rows['mlp']['recipe_sha256']"
printf 'models:\n  - model: ../zoo/mlp.onnx\n    recipe: ../recipe.yaml\n' >"$TMP/m/ok.yaml"
run "all models ok: exit 0" 0 "1 ok" -- batch "$TMP/m/ok.yaml" --out-dir "$TMP/mok"

printf 'recipe: ../recipe.yaml\nmodels: [../zoo/mlp.onnx, ../zoo/missing.onnx]\n' >"$TMP/m/missing.yaml"
run "a missing model is an error row, not fatal" 1 "missing.onnx: cannot open" -- \
  -q batch "$TMP/m/missing.yaml" --out-dir "$TMP/miss"
summary_check "missing model: its row says so, the other ran" "$TMP/miss/summary.json" \
  "rows['mlp']['status'] == 'ok' and rows['missing']['status'] == 'error' and \
   'missing.onnx' in rows['missing']['error']"

# --- Timeouts, usage errors ------------------------------------------------------------------
run "--timeout ends workers, the batch goes on" 1 "" -- \
  -q batch "$TMP/m/zoo.yaml" --out-dir "$TMP/tout" --timeout 0.001
summary_check "timed-out models say so" "$TMP/tout/summary.json" \
  "all(r['ended_by'] == 'timeout' and 'timeout' in r['error'] for r in s['models'])"
# Sanitizer builds reserve terabytes of address space and cannot run under a memory limit.
if grep -q -a -e __asan_init -e AddressSanitizer "$BIN"; then
  echo "skip  --memory-limit (sanitizer build)"
else
  run "--memory-limit ends workers, the batch goes on" 1 "" -- \
    -q batch "$TMP/m/zoo.yaml" --out-dir "$TMP/mem" --memory-limit 30M
  summary_check "workers over the memory limit say so" "$TMP/mem/summary.json" \
    "all(r['ended_by'] == 'memory_limit' and 'under --memory-limit' in r['error'] \
         for r in s['models'])"
fi
printf 'recipe: ../recipe.yaml\nmodles: []\n' >"$TMP/m/typo.yaml"
run "unknown manifest key" 2 "unknown key 'modles' (valid keys: recipe, data, models)" -- \
  batch "$TMP/m/typo.yaml" --out-dir "$TMP/x"
printf 'recipe: ../recipe.yaml\nmodels: [../zoo/mlp.onnx, ../zoo/mlp.onnx]\n' >"$TMP/m/dup.yaml"
run "clashing names" 2 "both have the name 'mlp'" -- batch "$TMP/m/dup.yaml" --out-dir "$TMP/x"
run "folder without --recipe" 2 "needs --recipe" -- batch "$ZOO" --out-dir "$TMP/x"
run "--shard 3/3" 2 "0 <= I < N" -- batch "$ZOO" --recipe "$TMP/recipe.yaml" \
  --out-dir "$TMP/x" --shard 3/3
mkdir -p "$TMP/m2/mlp"
cp "$ZOO/mlp.onnx" "$TMP/m2/mlp/model.onnx"
printf 'recipe: ../recipe.yaml\nmodels: [{model: mlp/model.onnx, name: mlp}]\n' >"$TMP/m2/zoo.yaml"
run "out-dir that would overwrite an input" 2 "apart from the inputs" -- \
  batch "$TMP/m2/zoo.yaml" --out-dir "$TMP/m2"
run "-j 0" 2 "" -- batch "$ZOO" --recipe "$TMP/recipe.yaml" --out-dir "$TMP/x" -j 0

cli_testing_summary
