#!/usr/bin/env node
// Float against int8 in ONNX Runtime: `compressor quantize` (static QDQ, per-channel int8,
// minmax on 16 seeded random samples) on the PaddleOCR models and the ResNet-style model, then
// latency of the float and the int8 model in onnxruntime-node, alternating processes (float,
// int8, float, int8, ...); per pair the ratio of the two medians, reported as the median ratio
// with its range. (What calibration costs against plain inference: bench/calib_bench.cc.)
//
//   node bench/quant_bench.js --build BUILD_DIR [--pairs 5] [--runs 5] [--threads 1]
//                             [--models det,rec,cls,resnet] [--mode static] [--format qdq]
//                             [--activation-type int8|uint8] [--calibration minmax|entropy|...]
//                             [--full-range]
//
// Weights and activations use 7-bit ranges (--reduce-range), which CPUs without VNNI need for
// exact results; --full-range quantizes to all 8 bits, for CPUs with VNNI (AVX512-VNNI, AVX-VNNI).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { repo, run, catalog: models, makeModels, alternate } = require('./ort_bench_common');

function parse(argv) {
  const o = { build: path.join(repo, 'build'), pairs: 5, runs: 5, threads: 1,
              models: ['det', 'rec', 'cls', 'resnet'], mode: 'static', format: 'qdq',
              activation: 'int8', calibration: 'minmax', reduceRange: true };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i], v = argv[i + 1];
    if (a === '--build') { o.build = v; ++i; }
    else if (a === '--pairs') { o.pairs = Number(v); ++i; }
    else if (a === '--runs') { o.runs = Number(v); ++i; }
    else if (a === '--threads') { o.threads = Number(v); ++i; }
    else if (a === '--models') { o.models = v.split(','); ++i; }
    else if (a === '--mode') { o.mode = v; ++i; }
    else if (a === '--format') { o.format = v; ++i; }
    else if (a === '--activation-type') { o.activation = v; ++i; }
    else if (a === '--calibration') { o.calibration = v; ++i; }
    else if (a === '--full-range') { o.reduceRange = false; }
    else { console.error(`quant_bench: unknown option ${a}`); process.exit(2); }
  }
  return o;
}

function main() {
  const o = parse(process.argv.slice(2));
  const bin = path.join(o.build, 'tools', 'compressor', 'compressor');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quant_bench-'));
  makeModels(dir);
  const catalog = models(dir);

  let flags = '';
  try { flags = fs.readFileSync('/proc/cpuinfo', 'utf8'); } catch (e) { /* not Linux */ }
  const vnni = ['avx512_vnni', 'avx_vnni'].filter((f) => new RegExp(`\\b${f}\\b`).test(flags));
  console.log(`quant_bench ${new Date().toISOString()}  ${os.cpus()[0].model} ` +
              `(VNNI: ${vnni.length ? vnni.join(', ') : 'none'}), ${os.cpus().length} cores, ` +
              `${o.threads} thread(s), --mode ${o.mode} --format ${o.format} --activation-type ${o.activation} ` +
              `--calibration ${o.calibration}${o.reduceRange ? ' --reduce-range' : ''}`);
  console.log(`${o.pairs} alternating pairs per row, each process: 1 warm-up + ${o.runs} timed runs\n`);
  console.log('| model | float ms | int8 ms | int8 / float (range) | size int8 / float |');
  console.log('|---|---|---|---|---|');
  for (const key of o.models) {
    const [file, dims, label, range, extra = []] = catalog[key];
    if (!fs.existsSync(file)) { console.log(`| ${label} | missing ${file} (tools/scripts/fetch_test_deps.sh) |`); continue; }
    const out = path.join(dir, `${key}.int8.onnx`);
    const report = path.join(dir, `${key}.json`);
    const dimArgs = dims.flatMap((d) => ['--dim', d]);
    run(bin, ['-q', 'quantize', file, '-o', out, '--mode', o.mode, '--format', o.format,
              '--calibration-samples', '16', '--samples', '16', '--random-range', range, '--no-drift',
              '--report', report, '--threads', String(o.threads),
              ...(o.mode === 'static' && o.reduceRange ? ['--reduce-range'] : []),
              ...(o.mode === 'static' ? ['--activation-type', o.activation,
                                         '--calibration', o.calibration] : []),
              ...extra, ...dimArgs]);
    const r = JSON.parse(fs.readFileSync(report, 'utf8'));
    const t = alternate(file, out, { pairs: o.pairs, runs: o.runs, threads: o.threads, dimArgs });
    console.log(`| ${label} | ${t.a.toFixed(2)} | ${t.b.toFixed(2)} | ${t.ratio.toFixed(2)} (${t.lo.toFixed(2)}-${t.hi.toFixed(2)}) | ` +
                `${(r.output.bytes / r.model.bytes).toFixed(3)} |`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

main();
