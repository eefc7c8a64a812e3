// Shared by bench/quant_bench.js and bench/prune_bench.js: the models both benchmark, running a
// command, medians, and timing an original and a compressed model in ONNX Runtime alternately.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const repo = path.join(__dirname, '..');
const deps = path.resolve(process.env.COMPRESSOR_DEPS_DIR || path.join(repo, '.deps'));

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${(r.stderr || '').trim()}`);
  return r.stdout;
}

const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

// key -> [file, dims, label, random input range]; the ResNet and transformer are written into
// `dir` by bench/make_bench_models.py (call makeModels first).
function catalog(dir) {
  return {
    det: [path.join(deps, 'ocr', 'det.onnx'), ['p2o.DynamicDimension.1=640', 'p2o.DynamicDimension.2=640'], 'PP-OCRv4 det, 1x3x640x640', '-2,2'],
    rec: [path.join(deps, 'ocr', 'rec.onnx'), ['p2o.DynamicDimension.1=320'], 'PP-OCRv4 rec, 1x3x48x320', '-1,1'],
    cls: [path.join(deps, 'ocr', 'cls.onnx'), ['p2o.DynamicDimension.1=48', 'p2o.DynamicDimension.2=192'], 'PP-OCR cls, 1x3x48x192', '-1,1'],
    resnet: [path.join(dir, 'resnet.onnx'), ['batch=1'], 'ResNet-18-style, 1x3x224x224', '0,1'],
    transformer: [path.join(dir, 'transformer.onnx'), ['batch=1'], 'transformer 4x256, seq 128', '-1,1'],
    mlp: [path.join(dir, 'mlp.onnx'), ['batch=32'], 'MLP 1024-4096-4096-1024-1000, batch 32', '-1,1'],
  };
}

// Writes the synthetic models `names` (default: resnet and transformer) into `dir`.
function makeModels(dir, names = []) {
  run('/usr/bin/python3', [path.join(__dirname, 'make_bench_models.py'), dir, ...names]);
}

// onnxruntime-node from $COMPRESSOR_DEPS_DIR, else the repository's .deps, else the module path.
function loadOrt() {
  const dirs = [process.env.COMPRESSOR_DEPS_DIR && path.resolve(process.env.COMPRESSOR_DEPS_DIR, 'node_modules', 'onnxruntime-node'),
                path.join(repo, '.deps', 'node_modules', 'onnxruntime-node')].filter(Boolean);
  for (const d of dirs) if (fs.existsSync(path.join(d, 'package.json'))) return require(d);
  return require('onnxruntime-node');
}

// Latency of `a` and `b` in onnxruntime-node, alternating processes (a, b, a, b, ...): per pair
// the ratio b/a of the two medians. Returns the medians of a and b and the median ratio with
// its range.
function alternate(a, b, { pairs, runs, threads, dimArgs, configA = [], configB = [] }) {
  const ta = [], tb = [], ratios = [];
  const once = (file, config) => JSON.parse(run('node', [path.join(__dirname, 'ort_run.js'), file, '--threads', String(threads),
                                                          '--runs', String(runs), ...dimArgs,
                                                          ...config.flatMap((c) => ['--config', c])]));
  for (let p = 0; p < pairs; ++p) {
    const ma = median(once(a, configA).times_ms), mb = median(once(b, configB).times_ms);
    ta.push(ma); tb.push(mb); ratios.push(mb / ma);
  }
  return { a: median(ta), b: median(tb), ratio: median(ratios), lo: Math.min(...ratios), hi: Math.max(...ratios) };
}

// Inputs for every float input of `session`: seeded uniform [0, 1) values, symbolic dimensions
// from `dims` (a Map, default 1). The same values on every call, for every model.
function seededFeeds(ort, session, dims) {
  let seed = 1;
  const rand = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 4294967296; };
  const feeds = {};
  for (const m of session.inputMetadata) {
    const shape = m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : dims.get(d) || 1));
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; ++i) data[i] = rand();
    feeds[m.name] = new ort.Tensor('float32', data, shape);
  }
  return feeds;
}

module.exports = { repo, deps, run, median, catalog, makeModels, alternate, loadOrt, seededFeeds };
