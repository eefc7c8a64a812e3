#!/usr/bin/env bash
# The demo: builds compressor, then runs it on the demo CNN in models/ and shows what it did:
# info, the cleanup passes, the optimized model checked against the reference outputs, static
# int8 quantization calibrated and measured on real held-out data and held to gates, structured
# pruning with least-squares recovery held to gates, low-rank factorization to a parameter budget
# held to gates, a recipe that prunes, factorizes and quantizes in one run, per-layer sensitivity,
# and where the executor spends its time.
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
echo "== held-out digits as sample folders (tools/scripts/npy_to_samples.py): 100 to calibrate, 100 to measure"
/usr/bin/python3 "$repo/tools/scripts/npy_to_samples.py" "$out/calib" \
  input="$repo/models/digits_eval/images.npy" --count 100
/usr/bin/python3 "$repo/tools/scripts/npy_to_samples.py" "$out/eval" \
  input="$repo/models/digits_eval/images.npy" --start 100
/usr/bin/python3 -c "import numpy as np, sys; np.save(sys.argv[2], np.load(sys.argv[1])[100:])" \
  "$repo/models/digits_eval/labels.npy" "$out/eval_labels.npy"
echo
echo "== compressor quantize models/tiny_cnn/model.onnx (static int8 QDQ) with gates"
echo "   (drift after every pass on held-out digits; exit code 3 if a gate fails)"
"$bin" quantize "$repo/models/tiny_cnn/model.onnx" -o "$out/tiny_cnn.int8.onnx" \
  --calibration-data "$out/calib" --data "$out/eval" --labels "$out/eval_labels.npy" \
  --gate 'accuracy_drop<=0.01' --gate 'top1_agreement>=0.99' --gate 'size_ratio<=0.4' \
  --report "$out/report.json"
echo
echo "== compressor prune models/tiny_cnn/model.onnx --structured channels --ratio 0.3 --reconstruct"
echo "   (30% of the channels of every channel group removed, the layers reading them re-fitted)"
"$bin" prune "$repo/models/tiny_cnn/model.onnx" -o "$out/tiny_cnn.pruned.onnx" \
  --structured channels --ratio 0.3 --reconstruct \
  --calibration-data "$out/calib" --data "$out/eval" --labels "$out/eval_labels.npy" \
  --gate 'accuracy_drop<=0.02' --gate 'params_ratio<=0.6' --report "$out/prune.json"
echo
echo "== compressor factorize models/tiny_transformer/model.onnx --target params_ratio=0.6 --data-aware"
echo "   (low-rank SVD of every projection, ranks per layer chosen from the drift each causes, fitted"
echo "   to the layers' outputs on the calibration digits; held to an accuracy and a parameter gate)"
for set in calib:0 eval:100; do
  /usr/bin/python3 "$repo/tools/scripts/npy_to_samples.py" "$out/${set%%:*}8x8" \
    input="$repo/models/digits_eval/images.npy" --reshape input=1,8,8 --start "${set#*:}" --count 100
done
"$bin" factorize "$repo/models/tiny_transformer/model.onnx" -o "$out/tiny_transformer.factorized.onnx" \
  --target params_ratio=0.6 --data-aware \
  --calibration-data "$out/calib8x8" --data "$out/eval8x8" --labels "$out/eval_labels.npy" \
  --gate 'accuracy_drop<=0.05' --gate 'params_ratio<=0.6' --report "$out/factorize.json"
echo
echo "== compressor run examples/recipes/prune_factorize_quantize.yaml (one recipe, three techniques)"
echo "   (channels pruned and re-fitted, layers factorized to 95% energy, static int8; drift after"
echo "   every pass, held to an accuracy and a size gate; the HTML report beside it)"
"$bin" run "$repo/examples/recipes/prune_factorize_quantize.yaml" -o "$out/tiny_cnn.chain.onnx" \
  --data "$out/eval" --labels "$out/eval_labels.npy" --calibration-data "$out/calib" \
  --report "$out/chain.json" --report-html "$out/chain.html"
echo
echo "== compressor sensitivity models/tiny_mlp/model.onnx --pass prune (which layers suffer most)"
/usr/bin/python3 "$repo/tools/scripts/npy_to_samples.py" "$out/digits64" \
  input="$repo/models/digits_eval/images.npy" --reshape input=1,64 --start 100 --count 50
"$bin" sensitivity "$repo/models/tiny_mlp/model.onnx" --pass prune --pass-options sparsity=0.8 \
  --data "$out/digits64" --metric rel_l2
echo
echo "== compressor profile models/tiny_cnn/model.onnx --dim batch=8 --top 5"
"$bin" profile "$repo/models/tiny_cnn/model.onnx" --dim batch=8 --top 5
rm -rf "$out"
