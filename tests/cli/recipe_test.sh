#!/usr/bin/env bash
# Recipes through the real CLI: `--print-recipe` on prune, quantize, factorize and optimize prints
# a recipe that `compressor run` turns into the same bytes as the command; a recipe that prunes,
# factorizes and quantizes gives the same bytes as the three commands run in sequence and reports
# drift after every pass; YAML and JSON read alike, paths are taken from the recipe's folder, and
# every mistake in a recipe is a one-line usage error naming the key and listing the valid ones.
#
#   bash tests/cli/recipe_test.sh BUILD/tools/compressor/compressor SOURCE_DIR
#
# The last line is `N passed, M failed`.
set -u

# shellcheck source=cli_testing.sh
source "$(dirname "${BASH_SOURCE[0]}")/cli_testing.sh"
cli_testing_setup recipe_test "$@"

same_bytes() {  # NAME A B
  if cmp -s "$2" "$3"; then ok "$1"; else fail "$1" "$2 and $3 differ"; fi
}

digits_samples
CNN=$SRC/models/tiny_cnn/model.onnx
MLP=$SRC/models/tiny_mlp/model.onnx
DATA=(--data "$TMP/eval" --labels "$TMP/eval_labels.npy")

# Every shorthand: its printed recipe, run, gives the command's own bytes.
shorthand() {  # NAME MODEL ARGS...: runs the command, then its printed recipe
  local name=$1 model=$2
  shift 2
  run "$name" 0 "wrote" -- "${@:1:1}" "$model" -o "$TMP/$name.cmd.onnx" "${@:2}" &&
    run "$name --print-recipe" 0 '"passes"' -- "${@:1:1}" "$model" -o "$TMP/$name.cmd.onnx" \
      "${@:2}" --print-recipe &&
    cp "$TMP/out" "$TMP/$name.recipe.json" &&
    run "$name: run its recipe" 0 "wrote" -- run "$TMP/$name.recipe.json" -o "$TMP/$name.run.onnx" &&
    same_bytes "$name: the recipe gives the command's bytes" "$TMP/$name.cmd.onnx" \
      "$TMP/$name.run.onnx"
}
shorthand prune-wanda "$CNN" prune --method wanda --sparsity 0.5 "${DATA[@]}" \
  --calibration-data "$TMP/calib" --exclude /fc/Gemm
shorthand prune-budget "$CNN" prune --structured channels --target params_ratio=0.7 "${DATA[@]}"
shorthand quantize "$CNN" quantize --calibration percentile --percentile 99.9 "${DATA[@]}" \
  --calibration-data "$TMP/calib" --exclude conv1
shorthand quantize-dynamic "$MLP" quantize --mode dynamic --samples 4
shorthand factorize "$MLP" factorize --energy 0.9 --data-aware --samples 4
shorthand optimize "$CNN" optimize --passes 'fold-batchnorm,prune-magnitude{sparsity=0.3}' \
  --samples 4 --gate 'cosine>=0.5'
check "printed recipe: calibration, options as numbers, lists and booleans" \
  "$TMP/quantize.recipe.json" \
  "r['calibration'] == {'method': 'percentile', 'percentile': 99.9, 'data': '$TMP/calib'} \
   and r['passes'][-1]['options']['exclude'] == 'conv1' \
   and r['passes'][-1]['options']['per_channel'] is True \
   and r['passes'][-2] == {'pass': 'convert-opset', 'options': {'opset': 13}}"
check "printed recipe: a budget target on its pass" "$TMP/prune-budget.recipe.json" \
  "[p.get('target') for p in r['passes'] if p['pass'] == 'prune-channels'] == ['params_ratio=0.7']"
check "printed recipe: gates" "$TMP/optimize.recipe.json" \
  "r['gates'] == ['cosine>=0.5'] and [p['pass'] for p in r['passes']] == ['fold-batchnorm', 'prune-magnitude']"

# prune -> factorize -> quantize: one recipe built from the three printed recipes, against the
# three commands run in sequence.
run "chain: prune" 0 "wrote" -- prune "$CNN" -o "$TMP/c1.onnx" --structured channels \
  --ratio 0.25 "${DATA[@]}"
run "chain: factorize" 0 "wrote" -- factorize "$TMP/c1.onnx" -o "$TMP/c2.onnx" --rank-ratio 0.5 \
  "${DATA[@]}"
run "chain: quantize" 0 "wrote" -- quantize "$TMP/c2.onnx" -o "$TMP/c3.onnx" \
  --calibration-data "$TMP/calib" "${DATA[@]}"
for step in "prune $CNN --structured channels --ratio 0.25" \
  "factorize $TMP/c1.onnx --rank-ratio 0.5" "quantize $TMP/c2.onnx --calibration-data $TMP/calib"; do
  # shellcheck disable=SC2086
  "$BIN" $step -o "$TMP/unused.onnx" "${DATA[@]}" --print-recipe >>"$TMP/parts.jsonl"
  echo >>"$TMP/parts.jsonl"
done
$PY - "$TMP/parts.jsonl" "$CNN" "$TMP/chain.json" <<'PYEOF'
import json, sys
text, parts, pos = open(sys.argv[1]).read(), [], 0
decoder = json.JSONDecoder()
while text[pos:].strip():
    part, end = decoder.raw_decode(text, pos + len(text[pos:]) - len(text[pos:].lstrip()))
    parts.append(part)
    pos = end
assert len(parts) == 3, len(parts)
chain = {"model": sys.argv[2], "data": parts[0]["data"], "calibration": parts[2]["calibration"],
         "passes": [s for p in parts for s in p["passes"]]}
json.dump(chain, open(sys.argv[3], "w"), indent=2)
PYEOF
run "chain: run the combined recipe" 0 "wrote" -- run "$TMP/chain.json" -o "$TMP/chain.onnx" \
  --report "$TMP/chain.report.json"
same_bytes "chain: the recipe gives the bytes of the three commands" "$TMP/c3.onnx" \
  "$TMP/chain.onnx"
checker "chain" "$TMP/chain.onnx"
check "chain: drift after every pass that changed the model, per output" "$TMP/chain.report.json" \
  "r['command'] == 'run' and len(r['passes']) == 24 \
   and all(p['drift'] and 'logits' in p['drift'] for p in r['passes'] if p['nodes_changed']) \
   and [p['name'] for p in r['passes'] if p['nodes_changed'] and p['name'] in \
        ('prune-channels', 'factorize-svd', 'quantize-static')] \
       == ['prune-channels', 'factorize-svd', 'quantize-static']"
run "chain: run again" 0 "wrote" -- run "$TMP/chain.json" -o "$TMP/chain2.onnx"
same_bytes "chain: same recipe, same bytes" "$TMP/chain.onnx" "$TMP/chain2.onnx"

# The same recipe in YAML, written by hand in another folder with paths relative to it.
mkdir -p "$TMP/zoo/data"
cp "$CNN" "$TMP/zoo/cnn.onnx"
cp -r "$TMP/eval" "$TMP/zoo/data/eval"
cp -r "$TMP/calib" "$TMP/zoo/data/calib"
cp "$TMP/eval_labels.npy" "$TMP/zoo/data/labels.npy"
cat >"$TMP/zoo/chain.yaml" <<'EOF'
# prune -> factorize -> quantize the small CNN
description: channels, low rank, int8
model: cnn.onnx
output: out/cnn.int8.onnx
data:
  folder: data/eval
  labels: data/labels.npy
calibration:
  method: minmax
  data: data/calib
passes:
  - constants-to-initializers
  - eliminate-identity
  - eliminate-dead-nodes
  - pass: prune-channels
    options: {ratio: 0.25, criterion: l1, reconstruct: true}
  - fold-batchnorm
  - eliminate-dead-nodes
  - pass: factorize-svd
    options:
      energy: 0.95
      exclude: ["/fc/Gemm"]
  - pass: convert-opset
    options: {opset: 13}
  - pass: quantize-static
gates:
  - accuracy_drop<=0.02
  - size_ratio<=0.3
report: out/report.json
report_html: out/report.html
EOF
mkdir -p "$TMP/zoo/out"
pushd / >/dev/null || exit 1
run "yaml: paths from the recipe's folder" 0 "wrote" -- run "$TMP/zoo/chain.yaml"
popd >/dev/null || exit 1
[[ -f $TMP/zoo/out/cnn.int8.onnx && -f $TMP/zoo/out/report.json && -f $TMP/zoo/out/report.html ]] &&
  ok "yaml: output and reports where the recipe says" || fail "yaml: outputs" "$(ls "$TMP/zoo/out")"
check "yaml: every pass reported, gates evaluated" "$TMP/zoo/out/report.json" \
  "len(r['passes']) == 9 and len(r['gates']) == 2 and r['exit_code'] == 0 \
   and r['passes'][-1]['name'] == 'quantize-static'"
$PY -c "
import json, sys
print(json.dumps({'model': 'cnn.onnx', 'output': 'out/cnn.json.onnx',
  'data': {'folder': 'data/eval', 'labels': 'data/labels.npy'},
  'calibration': {'method': 'minmax', 'data': 'data/calib'},
  'passes': ['constants-to-initializers', 'eliminate-identity', 'eliminate-dead-nodes',
    {'pass': 'prune-channels', 'options': {'ratio': '0.25', 'criterion': 'l1', 'reconstruct': True}},
    'fold-batchnorm', 'eliminate-dead-nodes',
    {'pass': 'factorize-svd', 'options': {'energy': 0.95, 'exclude': '/fc/Gemm'}},
    {'pass': 'convert-opset', 'options': {'opset': '13'}}, {'pass': 'quantize-static'}]}))
" >"$TMP/zoo/chain.json"
run "json: the same recipe" 0 "wrote" -- run "$TMP/zoo/chain.json"
same_bytes "yaml and json recipes give the same bytes" "$TMP/zoo/out/cnn.int8.onnx" \
  "$TMP/zoo/out/cnn.json.onnx"

# The command line fills in and overrides the recipe.
cp "$CNN" "$TMP/other.onnx"
run "run: MODEL, -o and --report override the recipe" 0 "wrote" -- run "$TMP/zoo/chain.yaml" \
  "$TMP/other.onnx" -o "$TMP/other.out.onnx" --data "$TMP/eval" --report "$TMP/other.json" \
  --threads 1
check "run: the overridden model, output and data were used" "$TMP/other.json" \
  "r['model']['path'] == '$TMP/other.onnx' and r['output']['path'] == '$TMP/other.out.onnx' \
   and '$TMP/eval' in r['samples']['description']"
run "run --print-recipe: the recipe as it would run" 0 '"model"' -- run "$TMP/zoo/chain.yaml" \
  "$MLP" --print-recipe
check "run --print-recipe: overrides and resolved paths" "$TMP/out" \
  "r['model'] == '$MLP' and r['output'] == '$TMP/zoo/out/cnn.int8.onnx' \
   and r['data']['folder'] == '$TMP/zoo/data/eval' and r['report'] == '$TMP/zoo/out/report.json'"
sed 's/size_ratio<=0.3/cosine>=0.9999999/' "$TMP/zoo/chain.yaml" >"$TMP/zoo/strict.yaml"
run "run: a failed gate exits 3 and still writes the model" 3 "gate failed" -- \
  run "$TMP/zoo/strict.yaml" -o "$TMP/gate.onnx" --report "$TMP/gate.json"
[[ -f $TMP/gate.onnx ]] && ok "run: gate failure still wrote the model" ||
  fail "run: gate failure" "no model"

# Mistakes: one-line usage errors (exit 2) naming the file and the key, listing the valid ones.
bad() {  # NAME NEEDLE RECIPE_TEXT [EXT]
  local file="$TMP/bad.${4:-json}"
  printf '%s\n' "$3" >"$file"
  run "recipe error: $1" 2 "$2" -- run "$file" "$CNN" -o "$TMP/bad.onnx"
}
bad "unknown top-level key" "unknown key; valid keys: description, model" '{"passes": ["fold-batchnorm"], "gate": []}'
bad "unknown pass" "unknown pass 'prune-everything'" '{"passes": ["prune-everything"]}'
bad "unknown pass lists the valid ones" "prune-channels" '{"passes": ["prune-everything"]}'
bad "unknown option" "passes[0]" '{"passes": [{"pass": "prune-channels", "options": {"ratoi": 0.3}}]}'
bad "unknown option lists the valid ones" "ratio" '{"passes": [{"pass": "prune-channels", "options": {"ratoi": 0.3}}]}'
bad "unknown step key" "passes[0].option: unknown key; valid keys: pass, options, target, auto_fallback" \
  '{"passes": [{"pass": "prune-channels", "option": {}}]}'
bad "unknown data key" "data.sample: unknown key" '{"data": {"sample": 3}, "passes": ["fold-batchnorm"]}'
bad "unknown calibration key" "calibration.methods: unknown key" \
  '{"calibration": {"methods": "mse"}, "passes": ["fold-batchnorm"]}'
bad "unknown calibration method" "calibration.method" \
  '{"calibration": {"method": "median"}, "passes": ["fold-batchnorm"]}'
bad "wrong value type" "data.samples: must be a whole number" \
  '{"data": {"samples": "many"}, "passes": ["fold-batchnorm"]}'
bad "no passes" "passes: missing" '{"model": "m.onnx"}'
bad "empty passes" "passes: must be a non-empty list" '{"passes": []}'
bad "target on a pass without groups" "passes[0].target: pass 'prune-unstructured' has no per-group ratios" \
  '{"passes": [{"pass": "prune-unstructured", "target": "params_ratio=0.5"}]}'
bad "malformed target" "passes[0].target" \
  '{"passes": [{"pass": "prune-channels", "target": "params=0.5"}]}'
bad "target with a fixed ratio" "drop option 'ratio'" \
  '{"passes": [{"pass": "prune-channels", "target": "params_ratio=0.5", "options": {"ratio": 0.2}}]}'
bad "auto_fallback not on the last pass" "passes[0].auto_fallback: applies to the recipe's last pass only" \
  '{"passes": [{"pass": "quantize-dynamic", "auto_fallback": true}, "eliminate-dead-nodes"]}'
bad "malformed gate" "cosine=>0.9" '{"passes": ["fold-batchnorm"], "gates": ["cosine=>0.9"]}'
bad "bad on_exceed" "on_exceed: must be fail or revert" '{"passes": ["fold-batchnorm"], "on_exceed": "skip"}'
bad "not a mapping" "a recipe is a mapping" '["fold-batchnorm"]'
bad "broken JSON" "not valid JSON" '{"passes": ["fold-batchnorm"'
bad "broken YAML names the file and line" "bad.yaml:4:1: not valid YAML" $'passes:\n  - fold-batchnorm\n  - [unclosed' yaml
bad "duplicate YAML key" "key 'passes' given twice" $'passes: [fold-batchnorm]\npasses: [fold-batchnorm]' yaml
printf '{"passes": ["fold-batchnorm"]}\n' >"$TMP/nomodel.json"
run "recipe error: no model anywhere" 2 "no model: give MODEL" -- run "$TMP/nomodel.json" -o "$TMP/x.onnx"
run "recipe error: no output anywhere" 2 "no output: give -o" -- run "$TMP/nomodel.json" "$CNN"
run "recipe error: missing recipe file" 2 "" -- run "$TMP/none.json" "$CNN" -o "$TMP/x.onnx"
cp "$CNN" "$TMP/self.onnx"
run "recipe: refuses to overwrite its input" 2 "refusing to overwrite" -- \
  run "$TMP/nomodel.json" "$TMP/self.onnx" -o "$TMP/self.onnx"
[[ ! -e $TMP/bad.onnx ]] && ok "no output written by a bad recipe" || fail "bad recipe" "wrote output"

# A command's recipe comes from its flags: its errors name the flags, not recipe keys.
run "prune: a bad --report-html names the flag" 2 "error: --report-html" -- \
  prune "$CNN" -o "$TMP/flag.onnx" --structured channels --report-html "$TMP/no/dir/r.html"
run "optimize: a bad pass option names the pass" 2 "error: pass 'fold-batchnorm': unknown option 'x'" -- \
  optimize "$CNN" -o "$TMP/flag.onnx" --passes 'fold-batchnorm{x=1}'
! grep -q "passes\[\|report_html\|--optimize:" "$TMP/err" && ok "command errors carry no recipe keys" ||
  fail "command errors carry no recipe keys" "$(cat "$TMP/err")"

# A report into a pipe (as into /dev/null or /dev/stdout) is written through it, not renamed over
# it; a model cannot go there (it is written beside and renamed into place).
mkfifo "$TMP/pipe"
cat "$TMP/pipe" >"$TMP/piped.json" &
reader=$!
run "run: --report into a pipe" 0 "wrote" -- run "$TMP/nomodel.json" "$CNN" -o "$TMP/p.onnx" \
  --report "$TMP/pipe"
wait "$reader"
[[ -p $TMP/pipe ]] && ok "the pipe is still a pipe" || fail "--report into a pipe" "replaced it"
check "the report came through the pipe" "$TMP/piped.json" "r['command'] == 'run'"
run "run: -o into a pipe is refused" 2 "not a regular file" -- run "$TMP/nomodel.json" "$CNN" \
  -o "$TMP/pipe"

cli_testing_summary
