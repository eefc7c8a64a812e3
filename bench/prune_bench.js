#!/usr/bin/env node
// Original against pruned in ONNX Runtime: `compressor prune` (by default structured, 30% of the
// channels of every channel group, L1 criterion) on the PaddleOCR models and the ResNet-style
// model, then latency of the original and the pruned model in onnxruntime-node, alternating
// processes (original, pruned, original, pruned, ...); per pair the ratio of the two medians,
// reported as the median ratio with its range, beside the parameter, MAC and file-size ratios
// from compressor's report.
//
//   node bench/prune_bench.js --build BUILD_DIR [--pairs 5] [--runs 5] [--threads 1]
//                             [--models det,cls,resnet] [--prune "--structured channels --ratio 0.3"]
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const repo = path.join(__dirname, '..');
const deps = process.env.COMPRESSOR_DEPS_DIR || path.join(repo, '.deps');

function parse(argv) {
  const o = { build: path.join(repo, 'build'), pairs: 5, runs: 5, threads: 1,
              models: ['det', 'cls', 'resnet'], prune: '--structured channels --ratio 0.3' };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i], v = argv[i + 1];
    if (a === '--build') { o.build = v; ++i; }
    else if (a === '--pairs') { o.pairs = Number(v); ++i; }
    else if (a === '--runs') { o.runs = Number(v); ++i; }
    else if (a === '--threads') { o.threads = Number(v); ++i; }
    else if (a === '--models') { o.models = v.split(','); ++i; }
    else if (a === '--prune') { o.prune = v; ++i; }
    else { console.error(`prune_bench: unknown option ${a}`); process.exit(2); }
  }
  return o;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${(r.stderr || '').trim()}`);
  return r.stdout;
}

const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

function main() {
  const o = parse(process.argv.slice(2));
  const bin = path.join(o.build, 'tools', 'compressor', 'compressor');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prune_bench-'));
  run('/usr/bin/python3', [path.join(__dirname, 'make_bench_models.py'), dir]);
  const catalog = {
    det: [path.join(deps, 'ocr', 'det.onnx'), ['p2o.DynamicDimension.1=640', 'p2o.DynamicDimension.2=640'], 'PP-OCRv4 det, 1x3x640x640', '-2,2'],
    rec: [path.join(deps, 'ocr', 'rec.onnx'), ['p2o.DynamicDimension.1=320'], 'PP-OCRv4 rec, 1x3x48x320', '-1,1'],
    cls: [path.join(deps, 'ocr', 'cls.onnx'), ['p2o.DynamicDimension.1=48', 'p2o.DynamicDimension.2=192'], 'PP-OCR cls, 1x3x48x192', '-1,1'],
    resnet: [path.join(dir, 'resnet.onnx'), ['batch=1'], 'ResNet-18-style, 1x3x224x224', '0,1'],
    transformer: [path.join(dir, 'transformer.onnx'), ['batch=1'], 'transformer 4x256, seq 128', '-1,1'],
  };
  const pruneArgs = o.prune.split(/\s+/).filter((s) => s.length > 0);
  console.log(`prune_bench ${new Date().toISOString()}  ${os.cpus()[0].model}, ${os.cpus().length} cores, ` +
              `${o.threads} thread(s), compressor prune ${o.prune}`);
  console.log(`${o.pairs} alternating pairs per row, each process: 1 warm-up + ${o.runs} timed runs\n`);
  console.log('| model | original ms | pruned ms | pruned / original (range) | params | MACs | file | zip |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const key of o.models) {
    const [file, dims, label, range] = catalog[key];
    if (!fs.existsSync(file)) { console.log(`| ${label} | missing ${file} (tools/scripts/fetch_test_deps.sh) |`); continue; }
    const out = path.join(dir, `${key}.pruned.onnx`);
    const report = path.join(dir, `${key}.json`);
    const dimArgs = dims.flatMap((d) => ['--dim', d]);
    run(bin, ['-q', 'prune', file, '-o', out, ...pruneArgs, '--samples', '8', '--random-range', range,
              '--no-drift', '--report', report, '--threads', String(o.threads), ...dimArgs]);
    const r = JSON.parse(fs.readFileSync(report, 'utf8'));
    const f = [], q = [], ratios = [];
    for (let p = 0; p < o.pairs; ++p) {
      const a = JSON.parse(run('node', [path.join(__dirname, 'ort_run.js'), file, '--threads', String(o.threads),
                                        '--runs', String(o.runs), ...dimArgs]));
      const b = JSON.parse(run('node', [path.join(__dirname, 'ort_run.js'), out, '--threads', String(o.threads),
                                        '--runs', String(o.runs), ...dimArgs]));
      const ma = median(a.times_ms), mb = median(b.times_ms);
      f.push(ma); q.push(mb); ratios.push(mb / ma);
    }
    const rr = median(ratios), lo = Math.min(...ratios), hi = Math.max(...ratios);
    const ratio = (k) => (r.model[k] > 0 ? (r.output[k] / r.model[k]).toFixed(3) : '-');
    const zip = r.output.zip_bytes && r.model.zip_bytes ? (r.output.zip_bytes / r.model.zip_bytes).toFixed(3) : '-';
    console.log(`| ${label} | ${median(f).toFixed(2)} | ${median(q).toFixed(2)} | ${rr.toFixed(2)} (${lo.toFixed(2)}-${hi.toFixed(2)}) | ` +
                `${ratio('params')} | ${ratio('macs')} | ${(r.output.bytes / r.model.bytes).toFixed(3)} | ${zip} |`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

main();
