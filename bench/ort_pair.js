// Latency of two models in onnxruntime-node, alternating processes (A, B, A, B, ...): per pair
// the ratio B/A of the two medians; prints the medians and the median ratio with its range. For
// a model against its rewritten form, e.g. a float model against the same model after
// `compressor optimize`:
//
//   node bench/ort_pair.js A.onnx B.onnx [--dim NAME=VALUE]... [--pairs 3] [--runs 5] [--threads 1]
//                          [--config-a KEY=VALUE]... [--config-b KEY=VALUE]...
//
// --config-a/--config-b set a session configuration entry for A's or B's sessions only: one model
// under two settings, e.g. an int8 model with and without session.qdqisint8allowed=1.
'use strict';
const { alternate } = require('./ort_bench_common');

function main() {
  const args = process.argv.slice(2);
  const o = { files: [], dims: [], pairs: 3, runs: 5, threads: 1, configA: [], configB: [] };
  for (let i = 0; i < args.length; ++i) {
    const a = args[i], v = args[i + 1];
    if (a === '--dim') { o.dims.push(v); ++i; }
    else if (a === '--pairs') { o.pairs = Number(v); ++i; }
    else if (a === '--runs') { o.runs = Number(v); ++i; }
    else if (a === '--threads') { o.threads = Number(v); ++i; }
    else if (a === '--config-a') { o.configA.push(v); ++i; }
    else if (a === '--config-b') { o.configB.push(v); ++i; }
    else if (a.startsWith('--')) { console.error(`ort_pair: unknown option ${a}`); process.exit(2); }
    else o.files.push(a);
  }
  if (o.files.length !== 2) {
    console.error('usage: node bench/ort_pair.js A.onnx B.onnx [--dim NAME=VALUE]... [--pairs N] [--runs N] [--threads N] ' +
                  '[--config-a KEY=VALUE]... [--config-b KEY=VALUE]...');
    process.exit(2);
  }
  const [a, b] = o.files;
  const t = alternate(a, b, { pairs: o.pairs, runs: o.runs, threads: o.threads,
                              dimArgs: o.dims.flatMap((d) => ['--dim', d]),
                              configA: o.configA, configB: o.configB });
  console.log(`${a}: ${t.a.toFixed(2)} ms, ${b}: ${t.b.toFixed(2)} ms, ` +
              `B/A ${t.ratio.toFixed(3)} (${t.lo.toFixed(3)}-${t.hi.toFixed(3)}), ${o.pairs} pairs, ${o.threads} thread(s)`);
}

main();
