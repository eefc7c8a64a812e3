#!/usr/bin/env bash
# `compressor passes` through the real CLI: every pass of src/passes/passes.def is listed, in that
# order, with its summary and every option with its default and help, in the text and the JSON
# forms alike; defaults agree with the passes' sources.
#
#   bash tests/cli/passes_test.sh BUILD/tools/compressor/compressor SOURCE_DIR
#
# The last line is `N passed, M failed`.
set -u

# shellcheck source=cli_testing.sh
source "$(dirname "${BASH_SOURCE[0]}")/cli_testing.sh"
cli_testing_setup passes_test "$@"

run "passes" 0 "prune-channels" -- passes
cp "$TMP/out" "$TMP/passes.txt"
run "passes --json" 0 "" -- passes --json
cp "$TMP/out" "$TMP/passes.json"
run "passes again" 0 "" -- passes --json
cmp -s "$TMP/out" "$TMP/passes.json" && ok "same output twice" || fail "same output twice" "differs"
run "passes with an unknown flag" 2 "--bogus" -- passes --bogus

# The names, in order, against the list the registry is built from.
if $PY - "$SRC" "$TMP/passes.json" >"$TMP/py" 2>&1 <<'PYEOF'
import json, re, sys
src, path = sys.argv[1], sys.argv[2]
listed = [p["name"] for p in json.load(open(path))["passes"]]
defined = re.findall(r'^COMPRESSOR_PASS\("([^"]+)"', open(src + "/src/passes/passes.def").read(), re.M)
assert defined and listed == defined, (listed, defined)
PYEOF
then ok "every pass of passes.def, in order"; else fail "the pass names" "$(tail -c 600 "$TMP/py")"; fi

check "every pass has a summary, every option a name and help" "$TMP/passes.json" \
  "all(p['summary'] and all(o['name'] and o['help'] for o in p['options']) for p in r['passes'])"

# Defaults against the passes' sources.
default_of() {  # SOURCE_FILE OPTION: the default written next to the option's name
  grep -o "{\"$2\", \"[^\"]*\"" "$SRC/src/passes/$1" | head -1 | sed 's/.*, "\(.*\)"/\1/'
}
ratio=$(default_of prune/prune_channels.cc ratio)
check "prune-channels: option ratio, default $ratio (from its source)" "$TMP/passes.json" \
  "'$ratio' != '' and {o['name']: o['default'] for p in r['passes'] if p['name'] == 'prune-channels' for o in p['options']}.get('ratio') == '$ratio'"
sparsity=$(default_of prune/prune_magnitude.cc sparsity)
check "prune-magnitude: option sparsity, default $sparsity (from its source)" "$TMP/passes.json" \
  "'$sparsity' != '' and [(o['name'], o['default']) for p in r['passes'] if p['name'] == 'prune-magnitude' for o in p['options']][0] == ('sparsity', '$sparsity')"

# The text form says what the JSON form says: one block per pass, in order, starting with the
# name, then the summary (wrapped), then `name=default` (or `name`) and the help of every option.
if $PY - "$TMP/passes.txt" "$TMP/passes.json" >"$TMP/py" 2>&1 <<'PYEOF'
import json, sys
text = open(sys.argv[1]).read()
passes = json.load(open(sys.argv[2]))["passes"]
blocks = text.split("\n\n")[1:]
assert len(blocks) == len(passes), (len(blocks), len(passes))
words = lambda s: " ".join(s.split())
for block, p in zip(blocks, passes):
    lines = block.rstrip("\n").split("\n")
    assert lines[0] == p["name"], (lines[0], p["name"])
    flat = words(" ".join(lines[1:]))
    assert flat.startswith(words(p["summary"])), (p["name"], flat[:200])
    rest = flat[len(words(p["summary"])):]
    if not p["options"]:
        assert rest.strip() == "(no options)", (p["name"], rest)
    for o in p["options"]:
        head = o["name"] + ("=" + o["default"] if o["default"] else "")
        assert any(l.split()[:1] == [head] for l in lines[1:]), (p["name"], head)
        item = words(head + " " + o["help"])
        assert item in rest, (p["name"], item)
        rest = rest[rest.index(item) + len(item):]
    assert all(len(l) <= 100 for l in lines), (p["name"], max(lines, key=len))
print(len(passes), "passes,", sum(len(p["options"]) for p in passes), "options")
PYEOF
then ok "text form: $(tail -1 "$TMP/py"), each with its default and help"
else fail "text form" "$(tail -c 600 "$TMP/py")"; fi

# Every option with a default, as listed, is one the pass accepts.
if $PY - "$TMP/passes.json" >"$TMP/spec" <<'PYEOF'
import json, sys
for p in json.load(open(sys.argv[1]))["passes"]:
    print(p["name"], ",".join(o["name"] + "=" + o["default"] for o in p["options"] if o["default"]))
PYEOF
then
  bad=0
  while read -r name opts; do
    # --passes is parsed (each pass created from its options) before the model is read, so
    # with valid options the error is the missing model.
    "$BIN" optimize "$TMP/missing.onnx" -o "$TMP/x.onnx" --passes "$name{$opts}" --no-drift \
      >/dev/null 2>"$TMP/err"
    if ! grep -q "missing.onnx" "$TMP/err"; then
      fail "listed options of $name are accepted" "$(cat "$TMP/err")"
      bad=1
    fi
  done <"$TMP/spec"
  [[ $bad -eq 0 ]] && ok "every pass accepts its listed defaults"
else
  fail "listed defaults" "could not read the JSON"
fi

cli_testing_summary
