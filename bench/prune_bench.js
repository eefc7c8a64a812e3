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
const { repo, run, catalog: models, makeModels, alternate } = require('./ort_bench_common');

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

function main() {
  const o = parse(process.argv.slice(2));
  const bin = path.join(o.build, 'tools', 'compressor', 'compressor');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prune_bench-'));
  makeModels(dir);
  const catalog = models(dir);

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
    const t = alternate(file, out, { pairs: o.pairs, runs: o.runs, threads: o.threads, dimArgs });
    const ratio = (k) => (r.model[k] > 0 ? (r.output[k] / r.model[k]).toFixed(3) : '-');
    const zip = r.output.zip_bytes && r.model.zip_bytes ? (r.output.zip_bytes / r.model.zip_bytes).toFixed(3) : '-';
    console.log(`| ${label} | ${t.a.toFixed(2)} | ${t.b.toFixed(2)} | ${t.ratio.toFixed(2)} (${t.lo.toFixed(2)}-${t.hi.toFixed(2)}) | ` +
                `${ratio('params')} | ${ratio('macs')} | ${(r.output.bytes / r.model.bytes).toFixed(3)} | ${zip} |`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

main();
