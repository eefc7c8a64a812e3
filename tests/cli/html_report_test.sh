#!/usr/bin/env bash
# `--report-html` through the real CLI: prune, a prune -> factorize -> quantize recipe and
# sensitivity write a self-contained page that
# holds the JSON report's passes, numbers and layers, a failed gate still writes it, a path that
# cannot be written is refused before any work, and (when Chromium is installed) the page renders
# to a screenshot with the charts' bars in it.
#
#   bash tests/cli/html_report_test.sh BUILD/tools/compressor/compressor SOURCE_DIR
#
# The last line is `N passed, M failed`.
set -u

# shellcheck source=cli_testing.sh
source "$(dirname "${BASH_SOURCE[0]}")/cli_testing.sh"
cli_testing_setup html_report_test "$@"

# page_check NAME HTML JSON PYTHON_EXPR: h is the page's text, r the parsed JSON report.
page_check() {
  if $PY - "$2" "$3" "$4" >"$TMP/pc" 2>&1 <<'PYEOF'
import html, json, sys
h = open(sys.argv[1], encoding="utf-8").read()
r = json.load(open(sys.argv[2]))
esc = lambda s: html.escape(s, quote=True).replace("&#x27;", "&#39;")
def fmt(v):
    """A metric as the report shows it: 6 significant digits, or 3 decimals in e-notation."""
    if v is None: return "-"
    if v == 0: return "0"
    return ("%.6g" % v) if 1e-3 <= abs(v) < 1e5 else ("%.3e" % v)
sys.exit(0 if eval(sys.argv[3]) else 1)
PYEOF
  then
    ok "$1"
  else
    fail "$1" "$4 is false for $2 $(tail -c 300 "$TMP/pc")"
  fi
}

# self_contained NAME HTML: a page with no scripts and no external reference.
self_contained() {
  page_check "$1: a self-contained page" "$2" "$TMP/none.json" \
    "h.startswith('<!DOCTYPE html>') and h.rstrip().endswith('</html>') and 'http' not in h \
     and '<script' not in h and '<link' not in h and 'src=' not in h \
     and h.count('<svg') == h.count('</svg>') > 0"
}
echo '{}' >"$TMP/none.json"

digits_samples
CNN=$SRC/models/tiny_cnn/model.onnx
DATA=(--data "$TMP/eval" --labels "$TMP/eval_labels.npy")

run "prune --report-html" 0 "HTML report written to" -- \
  prune "$CNN" -o "$TMP/cnn.ch.onnx" --structured channels --ratio 0.3 "${DATA[@]}" \
  --gate 'params_ratio<=0.9' --report "$TMP/prune.json" --report-html "$TMP/prune.html"
self_contained "prune" "$TMP/prune.html"
page_check "prune: every pass with its name, sizes, parameters and MACs" \
  "$TMP/prune.html" "$TMP/prune.json" \
  "len(r['passes']) > 0 and all(esc(p['name']) in h and f\"{p['params_after']:,}\" in h \
     and f\"{p['bytes_after']:,}\" in h and f\"{p['macs_after']:,}\" in h for p in r['passes'])"
page_check "prune: input and output models, their sizes and hashes" \
  "$TMP/prune.html" "$TMP/prune.json" \
  "all(esc(r[k]['path']) in h and r[k]['sha256'] in h and f\"{r[k]['bytes']:,}\" in h \
       and f\"{r[k]['params']:,}\" in h and f\"{r[k]['macs']:,}\" in h for k in ('model', 'output'))"
page_check "prune: the final drift and the gate as in the JSON" "$TMP/prune.html" "$TMP/prune.json" \
  "all(fmt(m['rel_l2']) in h and fmt(m['cosine']) in h for m in r['drift'].values()) \
   and all(esc(g['expr']) in h and fmt(g['value']) in h for g in r['gates']) \
   and 'class=\"gate-ok\"' in h and 'class=\"gate-fail\"' not in h"
page_check "prune: size, parameter, MAC and drift charts" "$TMP/prune.html" "$TMP/prune.json" \
  "h.count('<svg') >= 5 and 'Parameters after every pass' in h and 'rel_l2 after every pass' in h"
page_check "prune: the changes ledger and skipped nodes collapsed, escaped" \
  "$TMP/prune.html" "$TMP/prune.json" \
  "all(esc(c['node']) in h for p in r['passes'] for c in p['changes']) \
   and all(esc(s['reason']) in h for p in r['passes'] for s in p['nodes_skipped']) \
   and '<details>' in h"

# A failed gate exits 3 and still writes the page, which says so.
run "prune: a failed gate still writes the page" 3 "gate failed" -- \
  prune "$CNN" -o "$TMP/cnn.fail.onnx" --structured channels --ratio 0.5 "${DATA[@]}" \
  --gate 'cosine>=0.9999999' --report "$TMP/fail.json" --report-html "$TMP/fail.html"
self_contained "failed gate" "$TMP/fail.html"
page_check "failed gate: marked as failed with exit code 3" "$TMP/fail.html" "$TMP/fail.json" \
  "r['exit_code'] == 3 and 'exit code 3' in h and 'class=\"gate-fail\"' in h \
   and all(esc(g['expr']) in h for g in r['gates'])"

run "sensitivity --report-html" 0 "HTML report written to" -- \
  sensitivity "$CNN" --pass prune --pass-options sparsity=0.7 "${DATA[@]}" \
  --report "$TMP/sens.json" --report-html "$TMP/sens.html"
self_contained "sensitivity" "$TMP/sens.html"
page_check "sensitivity: every layer with its score, the ranking chart" \
  "$TMP/sens.html" "$TMP/sens.json" \
  "len(r['sensitivity']['layers']) > 0 and h.count('<svg') == 1 \
   and 'Per-layer sensitivity' in h \
   and all(esc(l['node']) in h and (l['skipped'] is not None or fmt(l['score']) in h) \
           for l in r['sensitivity']['layers'])"

run "eval --report-html" 0 "HTML report written to" -- \
  eval "$CNN" "$TMP/cnn.ch.onnx" "${DATA[@]}" --report-html "$TMP/eval.html"
self_contained "eval" "$TMP/eval.html"

# The page of a recipe that prunes, factorizes and quantizes: every pass with its bars and its
# drift.
run "run (prune -> factorize -> quantize) --report-html" 0 "HTML report written to" -- \
  run "$SRC/examples/recipes/prune_factorize_quantize.yaml" -o "$TMP/chain.onnx" \
  "${DATA[@]}" --calibration-data "$TMP/calib" --report "$TMP/chain.json" \
  --report-html "$TMP/chain.html"
self_contained "recipe" "$TMP/chain.html"
page_check "recipe: a bar for every pass in the size, parameter and MAC charts" \
  "$TMP/chain.html" "$TMP/chain.json" \
  "[p['name'] for p in r['passes'] if p['nodes_changed']][:1] == ['prune-channels'] \
   and {'factorize-svd', 'quantize-static'} <= {p['name'] for p in r['passes']} \
   and all(h.count(esc(f\"{i + 1}. {p['name']}\")) >= 3 for i, p in enumerate(r['passes']))"
page_check "recipe: the drift of every pass that changed the model, per output" \
  "$TMP/chain.html" "$TMP/chain.json" \
  "all(fmt(m['rel_l2']) in h and fmt(m['cosine']) in h \
       for p in r['passes'] if p['drift'] for m in p['drift'].values()) \
   and 'rel_l2 after every pass' in h and 'class=\"gate-fail\"' not in h"

# Usage errors before any work.
run "prune: --report-html into a missing folder is refused" 2 "does not exist" -- \
  prune "$CNN" -o "$TMP/nr.onnx" --structured channels --ratio 0.3 \
  --report-html "$TMP/no/such/dir/r.html"
[[ ! -e $TMP/nr.onnx ]] && ok "prune: nothing written when --report-html cannot be" ||
  fail "prune: bad --report-html wrote the model" "exists"
run "sensitivity: --report-html to a folder is refused" 2 "is a folder" -- \
  sensitivity "$CNN" --pass prune --report-html "$TMP"
run "eval: --report-html into a missing folder is refused" 2 "does not exist" -- \
  eval "$CNN" "$CNN" --report-html "$TMP/no/such/dir/r.html"

# The page as a browser draws it: a screenshot with more than a blank page in it, the bars in
# the charts' colour and the gate verdict's green.
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
render() {  # NAME: renders $TMP/NAME.html to $TMP/NAME.png and checks the picture
  timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$TMP/chromium-profile" --screenshot="$TMP/$1.png" \
    --window-size=1200,2000 "file://$TMP/$1.html" >"$TMP/chromium.log" 2>&1
  if $PY - "$TMP/$1.png" >"$TMP/png" 2>&1 <<'PYEOF'
import struct, sys, zlib
import numpy as np
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, ihdr = 8, b"", None
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR": ihdr = struct.unpack(">IIBBBBB", body)
    if kind == b"IDAT": idat += body
    pos += 12 + n
width, height, depth, ctype, _, _, interlace = ihdr
assert depth == 8 and ctype in (2, 6) and interlace == 0, ihdr
bpp = 3 if ctype == 2 else 4
stride = width * bpp
rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, stride + 1)
image = np.zeros((height, stride), np.uint8)
prev = np.zeros(stride, np.int64)
for y in range(height):  # undo the PNG row filters (RFC 2083, section 6)
    f, line = rows[y, 0], rows[y, 1:].astype(np.int64)
    if f == 1:
        line = line.reshape(width, bpp).cumsum(axis=0).reshape(-1) % 256
    elif f == 2:
        line = (line + prev) % 256
    elif f in (3, 4):
        out, up = line.tolist(), prev.tolist()
        for i in range(stride):
            a = out[i - bpp] if i >= bpp else 0
            b, c = up[i], up[i - bpp] if i >= bpp else 0
            if f == 3:
                out[i] = (out[i] + (a + b) // 2) & 255
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                out[i] = (out[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        line = np.array(out, np.int64)
    image[y] = line
    prev = line
rgb = image.reshape(height, width, bpp)[:, :, :3].astype(np.uint32)
colours = set(np.unique(rgb[:, :, 0] << 16 | rgb[:, :, 1] << 8 | rgb[:, :, 2]).tolist())
bar, green = 0x3B6FB6, 0x2E7D32
print(f"{width}x{height}, {len(colours)} colours, bars {bar in colours}, green {green in colours}")
sys.exit(0 if len(colours) > 16 and bar in colours and green in colours else 1)
PYEOF
  then
    ok "chromium renders the $1 page: $(cat "$TMP/png")"
  else
    fail "chromium renders the $1 page" "$(tail -c 300 "$TMP/png") $(tail -c 300 "$TMP/chromium.log")"
  fi
}
if [[ -z $CHROMIUM ]]; then
  echo "skipped: chromium not installed"
else
  render prune
  render chain
fi

cli_testing_summary
