#!/usr/bin/env bash
# The demo: builds compressor, then runs it on the demo CNN in models/ and shows what it did:
# info, the cleanup passes, the optimized model checked against the reference outputs, int8
# weights with drift measured after every pass on real held-out data and held to gates,
# per-layer sensitivity, and where the executor spends its time.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/tools/setup.sh" "$repo/build"
bin="$repo/build/tools/compressor/compressor"
out="$(mktemp -d)"
echo
echo "== compressor info models/tiny_cnn/model.onnx"
"$bin" info "$repo/models/tiny_cnn/model.onnx"
echo
echo "== compressor optimize models/tiny_cnn/model.onnx -o $out/tiny_cnn.optimized.onnx"
"$bin" optimize "$repo/models/tiny_cnn/model.onnx" -o "$out/tiny_cnn.optimized.onnx"
echo
echo "== compressor exec (the optimized model against the original's reference outputs)"
"$bin" exec "$out/tiny_cnn.optimized.onnx" --test-data-dir "$repo/models/tiny_cnn/test_data_set_0"
echo
echo "== held-out digits as sample folders (tools/scripts/npy_to_samples.py)"
/usr/bin/python3 "$repo/tools/scripts/npy_to_samples.py" "$out/digits" \
  input="$repo/models/digits_eval/images.npy"
echo
echo "== compressor optimize models/tiny_cnn/model.onnx --passes '...,quantize-weights' with gates"
echo "   (drift after every pass on 200 real samples; exit code 3 if a gate fails)"
"$bin" optimize "$repo/models/tiny_cnn/model.onnx" -o "$out/tiny_cnn.int8w.onnx" \
  --passes 'constants-to-initializers,fold-batchnorm,quantize-weights' \
  --data "$out/digits" --labels "$repo/models/digits_eval/labels.npy" \
  --gate 'accuracy_drop<=0.01' --gate 'cosine>=0.999' --gate 'size_ratio<=0.35' \
  --report "$out/report.json"
echo
echo "== compressor sensitivity models/tiny_mlp/model.onnx --pass prune (which layers suffer most)"
/usr/bin/python3 "$repo/tools/scripts/npy_to_samples.py" "$out/digits64" \
  input="$repo/models/digits_eval/images.npy" --reshape input=1,64 --count 50
"$bin" sensitivity "$repo/models/tiny_mlp/model.onnx" --pass prune --pass-options sparsity=0.8 \
  --data "$out/digits64" --metric rel_l2
echo
echo "== compressor profile models/tiny_cnn/model.onnx --dim batch=8 --top 5"
"$bin" profile "$repo/models/tiny_cnn/model.onnx" --dim batch=8 --top 5
rm -rf "$out"
