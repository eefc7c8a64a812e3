#!/usr/bin/env node
// Where ONNX Runtime spends a model's time: its own profiler over RUNS runs of each model (after
// one warm-up), summed per op type of the graph it optimized and divided by the runs. With two
// models, side by side, e.g. a float model and its int8 form, to see which kernels cost more:
//
//   node bench/ort_profile.js A.onnx [B.onnx] [--dim NAME=VALUE]... [--runs 200] [--repeats 3]
//                             [--threads 1] [--top 10]
//
// Each model is profiled --repeats times in its own process, the models alternating (A, B, A,
// B, ...), and every figure is the median over the repeats, so that a slow spell of the machine
// does not land on one model only. Prints, per op type, microseconds per run and kernel calls per
// run for each model, then the --top costliest nodes of each model with their input shapes.
// Inputs are seeded uniform [0, 1) floats, as bench/ort_run.js uses. Kernel times only: the time
// between kernels is not in them.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { loadOrt, seededFeeds } = require('./ort_bench_common');

function parse(argv) {
  const o = { files: [], dims: [], runs: 200, repeats: 3, threads: 1, top: 10, child: null };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i], v = argv[i + 1];
    if (a === '--dim') { o.dims.push(v); ++i; }
    else if (a === '--runs') { o.runs = Number(v); ++i; }
    else if (a === '--repeats') { o.repeats = Number(v); ++i; }
    else if (a === '--threads') { o.threads = Number(v); ++i; }
    else if (a === '--top') { o.top = Number(v); ++i; }
    else if (a === '--child') { o.child = v; ++i; }  // internal: profile one model into folder v
    else if (a.startsWith('--')) { console.error(`ort_profile: unknown option ${a}`); process.exit(2); }
    else o.files.push(a);
  }
  const bad = [o.runs, o.repeats, o.threads, o.top].some((n) => !Number.isInteger(n) || n < 1) ||
              o.dims.some((d) => !/^[^=]+=\d+$/.test(d || ''));
  if (bad || o.files.length < 1 || o.files.length > 2) {
    console.error('usage: node bench/ort_profile.js A.onnx [B.onnx] [--dim NAME=VALUE]... [--runs N] ' +
                  '[--repeats N] [--threads N] [--top N]');
    process.exit(2);
  }
  return o;
}

// Child: one session with profiling on; ONNX Runtime writes the JSON trace when it ends.
async function profileOne(o) {
  const ort = loadOrt();
  const dims = new Map(o.dims.map((d) => { const [k, v] = d.split('='); return [k, Number(v)]; }));
  const session = await ort.InferenceSession.create(o.files[0], {
    executionProviders: ['cpu'], intraOpNumThreads: o.threads, interOpNumThreads: 1,
    executionMode: 'sequential', graphOptimizationLevel: 'all', logSeverityLevel: 3,
    enableProfiling: true, profileFilePrefix: path.join(o.child, 'profile'),
  });
  const feeds = seededFeeds(ort, session, dims);
  for (let r = 0; r <= o.runs; ++r) await session.run(feeds);
  if (typeof session.endProfiling === 'function') session.endProfiling();
  await session.release();
}

// Per op type and per node: microseconds summed over the timed runs (the first run is the
// warm-up and is left out).
function summarize(trace) {
  const runs = trace.filter((e) => e.cat === 'Session' && e.name === 'model_run');
  const warmEnd = runs.length ? runs[0].ts + runs[0].dur : 0;
  const timed = Math.max(runs.length - 1, 1);
  const ops = new Map(), nodes = new Map();
  for (const e of trace) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < warmEnd) continue;
    const op = (e.args && e.args.op_name) || '?';
    const name = e.name.slice(0, -'_kernel_time'.length);
    const s = ops.get(op) || { us: 0, calls: 0 };
    s.us += e.dur; s.calls += 1; ops.set(op, s);
    const n = nodes.get(name) || { op, us: 0, inputs: e.args && e.args.input_type_shape };
    n.us += e.dur; nodes.set(name, n);
  }
  for (const m of [ops, nodes]) for (const v of m.values()) { v.us /= timed; if (v.calls) v.calls /= timed; }
  return { ops, nodes, runs: timed };
}

const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

// The median over repeated summaries of one model, per op type and per node (a node or op type
// missing from a repeat counts 0 there).
function medianSummary(list) {
  const merge = (key) => {
    const out = new Map();
    for (const name of new Set(list.flatMap((s) => [...s[key].keys()]))) {
      const seen = list.map((s) => s[key].get(name)).filter(Boolean);
      out.set(name, { ...seen[0], us: median(list.map((s) => (s[key].get(name) || { us: 0 }).us)) });
    }
    return out;
  };
  return { ops: merge('ops'), nodes: merge('nodes'),
           total: median(list.map((s) => [...s.ops.values()].reduce((a, v) => a + v.us, 0))) };
}

function shapes(inputs) {
  if (!Array.isArray(inputs)) return '';
  return inputs.map((t) => Object.entries(t).map(([type, dims]) => `${type}[${dims.join(',')}]`)[0])
    .filter((s) => !s.endsWith('[]')).join(' ');
}

function main() {
  const o = parse(process.argv.slice(2));
  if (o.child) {
    profileOne(o).catch((e) => { console.error(`ort_profile: ${e.message || e}`); process.exit(1); });
    return;
  }
  const profile = (file) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ort_profile-'));
    try {
      const args = [__filename, file, '--child', dir, '--runs', String(o.runs), '--threads', String(o.threads),
                    ...o.dims.flatMap((d) => ['--dim', d])];
      const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${file}: ${(r.stderr || '').trim() || 'profiling failed'}`);
      const json = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
      if (json.length !== 1) throw new Error(`${file}: ONNX Runtime wrote no profile`);
      return summarize(JSON.parse(fs.readFileSync(path.join(dir, json[0]), 'utf8')));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  const repeats = o.files.map(() => []);
  for (let r = 0; r < o.repeats; ++r) o.files.forEach((file, i) => repeats[i].push(profile(file)));
  const results = repeats.map(medianSummary);

  const names = o.files.map((f) => path.basename(f));
  console.log(`ort_profile: ${o.runs} runs after 1 warm-up, ${o.threads} thread(s), median of ${o.repeats} ` +
              'alternating processes per model; microseconds per run (kernel calls per run)\n');
  const types = new Set(results.flatMap((r) => [...r.ops.keys()]));
  const order = [...types].sort((a, b) => Math.max(...results.map((r) => (r.ops.get(b) || { us: 0 }).us)) -
                                          Math.max(...results.map((r) => (r.ops.get(a) || { us: 0 }).us)));
  console.log(`| op type | ${names.join(' | ')} |`);
  console.log(`|---|${names.map(() => '---|').join('')}`);
  for (const t of order) {
    const cells = results.map((r) => { const s = r.ops.get(t); return s ? `${s.us.toFixed(1)} (${s.calls})` : '-'; });
    console.log(`| ${t} | ${cells.join(' | ')} |`);
  }
  console.log(`| all kernels | ${results.map((r) => r.total.toFixed(1)).join(' | ')} |`);
  results.forEach((r, i) => {
    console.log(`\n${names[i]}: the ${o.top} costliest nodes`);
    const top = [...r.nodes.entries()].sort((a, b) => b[1].us - a[1].us).slice(0, o.top);
    for (const [name, n] of top) console.log(`  ${n.us.toFixed(1).padStart(8)} us  ${n.op.padEnd(24)} ${name}  ${shapes(n.inputs)}`);
  });
}

main();
