#!/usr/bin/env node
// The executor against ONNX Runtime: latency and peak memory on the PaddleOCR models and on the
// ResNet-style and transformer-style models that bench/make_bench_models.py writes, at 1 and 2
// threads, plus GEMM GFLOP/s against the measured FMA peak (bench/gemm_bench).
//
//   node bench/exec_bench.js --build BUILD_DIR [--pairs 5] [--runs 5] [--threads 1,2]
//                            [--models det,rec,cls,resnet,transformer]
//
// Per model and thread count it alternates the two runtimes (ours, ORT, ours, ORT, ...), each a
// fresh process that loads the model, warms up once and times RUNS runs; the ratio of the two
// medians is taken per pair and the median ratio is reported with its range. Peak memory is the
// process's peak RSS minus its RSS before the model was loaded (the runtime's own start-up
// footprint: about 8 MiB for compressor, 51 MiB for node with onnxruntime), so the figure is what the
// model costs in each runtime. ORT runs with all graph optimizations; ours runs the file as is.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const repo = path.join(__dirname, '..');
const deps = path.resolve(process.env.COMPRESSOR_DEPS_DIR || path.join(repo, '.deps'));

function parse(argv) {
  const o = { build: path.join(repo, 'build'), pairs: 5, runs: 5, threads: [1, 2],
              models: ['det', 'rec', 'cls', 'resnet', 'transformer'] };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i], v = argv[i + 1];
    if (a === '--build') { o.build = v; ++i; }
    else if (a === '--pairs') { o.pairs = Number(v); ++i; }
    else if (a === '--runs') { o.runs = Number(v); ++i; }
    else if (a === '--threads') { o.threads = v.split(',').map(Number); ++i; }
    else if (a === '--models') { o.models = v.split(','); ++i; }
    else { console.error(`exec_bench: unknown option ${a}`); process.exit(2); }
  }
  return o;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${(r.stderr || '').trim()}`);
  return r.stdout;
}

const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const mib = (b) => (b / 1048576).toFixed(1);

function main() {
  const o = parse(process.argv.slice(2));
  const bin = path.join(o.build, 'tools', 'compressor', 'compressor');
  const modelsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'exec_bench-'));
  run('/usr/bin/python3', [path.join(__dirname, 'make_bench_models.py'), modelsDir]);
  const catalog = {
    det: [path.join(deps, 'ocr', 'det.onnx'), ['p2o.DynamicDimension.1=640', 'p2o.DynamicDimension.2=640'], 'PP-OCRv4 det, 1x3x640x640'],
    rec: [path.join(deps, 'ocr', 'rec.onnx'), ['p2o.DynamicDimension.1=320'], 'PP-OCRv4 rec, 1x3x48x320'],
    cls: [path.join(deps, 'ocr', 'cls.onnx'), ['p2o.DynamicDimension.1=48', 'p2o.DynamicDimension.2=192'], 'PP-OCR cls, 1x3x48x192'],
    resnet: [path.join(modelsDir, 'resnet.onnx'), ['batch=1'], 'ResNet-18-style, 1x3x224x224'],
    transformer: [path.join(modelsDir, 'transformer.onnx'), ['batch=1'], 'transformer 4x256, seq 128'],
  };
  console.log(`exec_bench ${new Date().toISOString()}  ${os.cpus()[0].model}, ${os.cpus().length} cores`);
  console.log(`${o.pairs} alternating pairs per row, each process: 1 warm-up + ${o.runs} timed runs\n`);
  console.log('| model | threads | ours ms | ORT ms | ours / ORT (range) | ours peak MiB | ORT peak MiB | memory ours / ORT |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const key of o.models) {
    const [file, dims, label] = catalog[key];
    if (!fs.existsSync(file)) { console.log(`| ${label} | - | missing ${file} (tools/scripts/fetch_test_deps.sh) |`); continue; }
    for (const t of o.threads) {
      const ours = [], theirs = [], ratios = [], memOurs = [], memTheirs = [];
      for (let p = 0; p < o.pairs; ++p) {
        const a = JSON.parse(run(bin, ['-q', 'profile', file, '--json', '--runs', String(o.runs), '--warmup', '1',
                                       '--threads', String(t), ...dims.flatMap((d) => ['--dim', d])]));
        const b = JSON.parse(run('node', [path.join(__dirname, 'ort_run.js'), file, '--threads', String(t),
                                          '--runs', String(o.runs), ...dims.flatMap((d) => ['--dim', d])]));
        const ma = a.run_ms.median, mb = median(b.times_ms);
        ours.push(ma); theirs.push(mb); ratios.push(ma / mb);
        memOurs.push(a.peak_rss_bytes - a.startup_rss_bytes);
        memTheirs.push(b.peak_rss_bytes - b.startup_rss_bytes);
      }
      const r = median(ratios), lo = Math.min(...ratios), hi = Math.max(...ratios);
      const mo = median(memOurs), mt = median(memTheirs);
      console.log(`| ${label} | ${t} | ${median(ours).toFixed(2)} | ${median(theirs).toFixed(2)} | ` +
                  `${r.toFixed(2)} (${lo.toFixed(2)}-${hi.toFixed(2)}) | ${mib(mo)} | ${mib(mt)} | ${(mo / mt).toFixed(2)} |`);
    }
  }
  fs.rmSync(modelsDir, { recursive: true, force: true });
  const gemm = path.join(o.build, 'bench', 'gemm_bench');
  if (fs.existsSync(gemm)) {
    console.log('\nGEMM, one thread:');
    console.log(run(gemm, []));
  }
}

main();
