#!/usr/bin/env node
// Original against low-rank factorized in ONNX Runtime: SVD factorization of the Gemm/MatMul
// weights under a few rank policies on the Gemm-dominated MLP of bench/make_bench_models.py (and,
// if asked for, the PP-OCRv4 recognizer), then, in one onnxruntime-node process holding every
// session, (1) how far each factorized model's output is from the original's on the same seeded
// random input (max |diff|, max |diff| / max |original|, cosine, share of rows whose argmax over
// the last axis agrees; random inputs exercise the graph, they do not measure accuracy) and
// (2) latency measured round-robin: one warm-up run of every session, then REPS rounds that run
// every session once each (the starting session rotates every round); per round the ratio
// factorized / original, reported as the median ratio with its range, beside the parameter and
// MAC ratios from compressor's report (the MAC ratio is what an ideal GEMM would gain).
//
//   node bench/factorize_bench.js [--compressor BIN | --build BUILD_DIR] [--threads 1[,2]] [--reps 30]
//                                 [--models mlp[,rec]] [--policies rank_ratio=0.25,energy=0.9,rank=256]
//                                 [--models-dir DIR]
//
// BIN defaults to $COMPRESSOR_BIN, else BUILD_DIR/tools/compressor/compressor (BUILD_DIR defaults to
// build/). The MLP is generated into --models-dir (default $TMPDIR/compressor-bench-models) when
// missing; the OCR models come from $COMPRESSOR_DEPS_DIR/ocr (tools/scripts/fetch_test_deps.sh).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { repo, run, median, catalog: models, makeModels, loadOrt } = require('./ort_bench_common');

function parse(argv) {
  const o = { bin: process.env.COMPRESSOR_BIN || null, build: path.join(repo, 'build'), threads: [1], reps: 30,
              models: ['mlp'], policies: ['rank_ratio=0.25', 'energy=0.9', 'rank=256'],
              modelsDir: path.join(os.tmpdir(), 'compressor-bench-models') };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i], v = argv[i + 1];
    if (a === '--compressor') { o.bin = v; ++i; }
    else if (a === '--build') { o.build = v; ++i; }
    else if (a === '--threads') { o.threads = v.split(',').map(Number); ++i; }
    else if (a === '--reps') { o.reps = Number(v); ++i; }
    else if (a === '--models') { o.models = v.split(','); ++i; }
    else if (a === '--policies') { o.policies = v.split(','); ++i; }
    else if (a === '--models-dir') { o.modelsDir = v; ++i; }
    else { console.error(`factorize_bench: unknown option ${a}`); process.exit(2); }
  }
  if (!o.bin) o.bin = path.join(o.build, 'tools', 'compressor', 'compressor');
  for (const p of o.policies) {
    if (!/^(rank_ratio|energy|rank)=[0-9.]+$/.test(p)) {
      console.error(`factorize_bench: policy '${p}' is not rank_ratio=F, energy=F or rank=R`); process.exit(2);
    }
  }
  return o;
}

// `compressor factorize` for a policy given as the pass's option (rank_ratio=0.25, energy=0.9,
// rank=256): the same key as a command-line flag.
function factorizeArgv(model, out, policy, common) {
  const [key, value] = policy.split('=');
  return ['factorize', model, '-o', out, `--${key.replace(/_/g, '-')}`, value, ...common];
}

function seededInput(ort, meta, dims, range) {
  const [lo, hi] = range.split(',').map(Number);
  let seed = 1;
  const rand = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 4294967296; };
  const dimOf = new Map(dims.map((d) => d.split('=')).map(([k, v]) => [k, Number(v)]));
  const shape = meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : dimOf.get(d) || 1));
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; ++i) data[i] = lo + (hi - lo) * rand();
  return new ort.Tensor('float32', data, shape);
}

// Agreement of candidate output tensor `b` with reference `a` (same shape).
function agreement(a, b) {
  const x = a.data, y = b.data;
  let maxDiff = 0, maxRef = 0, dot = 0, nx = 0, ny = 0;
  for (let i = 0; i < x.length; ++i) {
    maxDiff = Math.max(maxDiff, Math.abs(x[i] - y[i]));
    maxRef = Math.max(maxRef, Math.abs(x[i]));
    dot += x[i] * y[i]; nx += x[i] * x[i]; ny += y[i] * y[i];
  }
  const last = a.dims[a.dims.length - 1];
  let same = 0;
  const argmax = (v, off) => { let k = 0; for (let j = 1; j < last; ++j) if (v[off + j] > v[off + k]) k = j; return k; };
  for (let off = 0; off < x.length; off += last) same += argmax(x, off) === argmax(y, off) ? 1 : 0;
  return { maxDiff, relMax: maxRef > 0 ? maxDiff / maxRef : 0, cosine: dot / Math.sqrt(nx * ny),
           top1: same / (x.length / last) };
}

async function measure(ort, files, { dims, range, threads, reps }) {
  const sessions = [];
  for (const f of files) {
    sessions.push(await ort.InferenceSession.create(f, {
      executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1,
      executionMode: 'sequential', graphOptimizationLevel: 'all', logSeverityLevel: 3,
    }));
  }
  const feeds = {};
  for (const m of sessions[0].inputMetadata) feeds[m.name] = seededInput(ort, m, dims, range);
  const outName = sessions[0].outputNames[0];
  const outputs = [];
  for (const s of sessions) outputs.push((await s.run(feeds))[outName]);  // also the warm-up run
  const times = files.map(() => []);
  for (let r = 0; r < reps; ++r) {
    for (let k = 0; k < sessions.length; ++k) {
      const i = (r + k) % sessions.length;
      const t = process.hrtime.bigint();
      await sessions[i].run(feeds);
      times[i].push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  }
  for (const s of sessions) if (s.release) await s.release();
  return files.map((f, i) => {
    const ratios = times[i].map((t, r) => t / times[0][r]);
    return { median: median(times[i]), min: Math.min(...times[i]), max: Math.max(...times[i]),
             ratio: median(ratios), lo: Math.min(...ratios), hi: Math.max(...ratios),
             agree: agreement(outputs[0], outputs[i]) };
  });
}

async function main() {
  const o = parse(process.argv.slice(2));
  if (!fs.existsSync(o.bin)) { console.error(`factorize_bench: no compressor at ${o.bin} (--compressor BIN)`); process.exit(2); }
  const catalog = models(o.modelsDir);
  if (o.models.includes('mlp') && !fs.existsSync(catalog.mlp[0])) makeModels(o.modelsDir, ['mlp']);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'factorize_bench-'));
  const ort = loadOrt();

  console.log(`factorize_bench ${new Date().toISOString()}  ${os.cpus()[0].model}, ${os.cpus().length} cores, ` +
              `${o.threads.join(' and ')} thread(s), ${o.bin}`);
  console.log(`one process, every session loaded; 1 warm-up run each, then ${o.reps} round-robin rounds; ` +
              `ratios per round against the original of the same round\n`);
  console.log('| model | threads | policy | params | MACs | MACs ratio | ms median (min-max) | latency ratio (range) | ' +
              'max abs diff (rel) | cosine | argmax agrees | factorize s |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  const rankLines = [];
  const millions = (v) => `${(v / 1e6).toFixed(2)}M`;
  // Without every node's shape (MatMuls behind a Reshape of paddle2onnx exports) the MACs leave
  // some layers out, often exactly the factorized ones.
  const macsRatio = (r) => (r.model.macs_complete && r.output.macs_complete
    ? (r.output.macs / r.model.macs).toFixed(3) : 'incomplete');
  for (const key of o.models) {
    const [file, dims, label, range] = catalog[key];
    if (!fs.existsSync(file)) { console.log(`| ${label} | missing ${file} (tools/scripts/fetch_test_deps.sh) |`); continue; }
    const dimArgs = dims.flatMap((d) => ['--dim', d]);
    const files = [file], rows = [];
    for (const [i, policy] of o.policies.entries()) {
      const out = path.join(dir, `${key}.${i}.onnx`);
      const report = path.join(dir, `${key}.${i}.json`);
      const t0 = process.hrtime.bigint();
      run(o.bin, ['-q', ...factorizeArgv(file, out, policy, ['--no-drift', '--report', report, ...dimArgs])]);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      files.push(out);
      rows.push({ policy, seconds, report: JSON.parse(fs.readFileSync(report, 'utf8')) });
    }
    for (const row of rows) {  // the pass's ledger: {node: 'fc0', detail: 'SVD, W 1024x4096, rank 256 of 1024, energy kept 0.9608, ...'}
      const changes = row.report.passes.flatMap((p) => p.changes || []);
      row.ranks = changes.map((c) => [c.node, /rank (\d+) of (\d+), energy kept ([0-9.]+)/.exec(c.detail)])
        .filter(([, m]) => m).map(([name, [, r, p, e]]) => `${name} ${r}/${p} (${e})`).join(', ');
    }
    for (const row of rows) rankLines.push(`- ${label}, ${row.policy}: ${row.ranks || '-'}`);
    const base = rows.length > 0 ? rows[0].report.model : null;
    const ms = (m) => `${m.median.toFixed(2)} (${m.min.toFixed(2)}-${m.max.toFixed(2)})`;
    for (const threads of o.threads) {
      const t = await measure(ort, files, { dims, range, threads, reps: o.reps });
      if (base) {
        console.log(`| ${label} | ${threads} | original | ${millions(base.params)} | ${millions(base.macs)} | 1 | ${ms(t[0])} | 1 | 0 | 1 | 100% | - |`);
      }
      for (const [i, row] of rows.entries()) {
        const r = row.report, m = t[i + 1], a = m.agree;
        console.log(`| ${label} | ${threads} | ${row.policy} | ${millions(r.output.params)} (${(r.output.params / r.model.params).toFixed(3)}) | ` +
                    `${millions(r.output.macs)} | ${macsRatio(r)} | ${ms(m)} | ` +
                    `${m.ratio.toFixed(3)} (${m.lo.toFixed(2)}-${m.hi.toFixed(2)}) | ${a.maxDiff.toPrecision(3)} (${a.relMax.toFixed(3)}) | ` +
                    `${a.cosine.toFixed(4)} | ${(100 * a.top1).toFixed(1)}% | ${row.seconds.toFixed(1)} |`);
      }
    }
  }
  console.log('\nranks per layer, rank/max (energy kept):');
  for (const line of rankLines) console.log(line);
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => { console.error(`factorize_bench: ${e.message || e}`); process.exit(1); });
