#!/usr/bin/env node
// Times one model in onnxruntime-node, for bench/exec_bench.js: one warm-up run, then RUNS timed
// runs on seeded uniform [0, 1) float inputs; prints JSON with the per-run times and peak RSS.
//
//   node bench/ort_run.js MODEL --threads N --runs R [--dim NAME=VALUE]... [--config KEY=VALUE]...
//
// Sessions use all graph optimizations (what users deploy with), N intra-op threads, one
// inter-op thread, sequential execution. --config sets a session configuration entry, e.g.
// session.qdqisint8allowed=1 (ONNX Runtime's onnxruntime_session_options_config_keys.h).
'use strict';
const fs = require('fs');
const { loadOrt, seededFeeds } = require('./ort_bench_common');

function rssBytes() {
  const statm = fs.readFileSync('/proc/self/statm', 'utf8').split(' ');
  return Number(statm[1]) * 4096;
}

async function main() {
  const argv = process.argv.slice(2);
  const opts = { model: null, threads: 1, runs: 5, dims: new Map(), extra: {} };
  for (let i = 0; i < argv.length; ++i) {
    if (argv[i] === '--threads') opts.threads = Number(argv[++i]);
    else if (argv[i] === '--runs') opts.runs = Number(argv[++i]);
    else if (argv[i] === '--dim') { const [k, v] = argv[++i].split('='); opts.dims.set(k, Number(v)); }
    else if (argv[i] === '--config') {
      // 'a.b=v' becomes extra: { a: { b: 'v' } }, which onnxruntime-node flattens back to 'a.b'.
      const entry = argv[++i] || '', eq = entry.indexOf('=');
      if (eq <= 0) { console.error(`ort_run: --config ${entry}: expected KEY=VALUE`); process.exit(2); }
      const keys = entry.slice(0, eq).split('.');
      let node = opts.extra;
      for (const k of keys.slice(0, -1)) node = node[k] = node[k] || {};
      node[keys[keys.length - 1]] = entry.slice(eq + 1);
    }
    else opts.model = argv[i];
  }
  const ort = loadOrt();
  const startup = rssBytes();
  const session = await ort.InferenceSession.create(opts.model, {
    executionProviders: ['cpu'], intraOpNumThreads: opts.threads, interOpNumThreads: 1,
    executionMode: 'sequential', graphOptimizationLevel: 'all', logSeverityLevel: 3,
    extra: opts.extra,
  });
  const feeds = seededFeeds(ort, session, opts.dims);
  await session.run(feeds);
  const times = [];
  for (let r = 0; r < opts.runs; ++r) {
    const t = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const peak = process.resourceUsage().maxRSS * 1024;
  console.log(JSON.stringify({ times_ms: times, startup_rss_bytes: startup, peak_rss_bytes: peak }));
}

main().catch((e) => { console.error(`ort_run: ${e.message || e}`); process.exit(1); });
