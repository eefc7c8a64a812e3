#!/usr/bin/env node
// Run two ONNX models on the same seeded random inputs with onnxruntime-node and compare their outputs.
//
// Usage:
//   node tools/scripts/ort_compare.js A.onnx B.onnx [--dim NAME=VALUE]... [--seed S] [--samples N]
//                                     [--rtol R] [--input-range LO,HI]
//   node tools/scripts/ort_compare.js --executor COMPRESSOR_BIN MODEL.onnx [same options]
//   node tools/scripts/ort_compare.js --check-load MODEL.onnx...
//
//   --dim NAME=VALUE    bind the symbolic dimension NAME (e.g. p2o.DynamicDimension.1=64). Every symbolic
//                       dim without --dim, and every unnamed dynamic dim, is 1. A NAME that no input of
//                       A or B uses is a usage error (catches typos).
//   --seed S            PRNG seed, uint32 (default 1). Inputs depend only on seed, sample index and the
//                       input metadata of A, so runs are reproducible.
//   --samples N         number of random input sets to try (default 1); the worst result is reported.
//   --rtol R            max relative difference ||a-b||_2 / max(||a||_2, 1e-12) per output (default 1e-4).
//   --atol A            an output whose largest absolute difference is <= A also passes (outputs such as
//                       probabilities that are all near zero, where a relative difference means nothing).
//   --min-cosine C      judge each output by cosine similarity >= C instead of --rtol (quantized models, where
//                       a fused int8 kernel and a float one may round single elements one step apart).
//   --ort-optimize      run ONNX Runtime with all graph optimizations (its QDQ fusions, as deployed).
//   --input-range LO,HI range of uniform float inputs (default 0,1). Integer inputs get 0..9, bool 0/1.
//   --input-pattern P   'uniform' (default) or 'document': float NCHW inputs with 3 channels become a synthetic
//                       page (white background, dark text-like strokes in lines) normalized with the ImageNet
//                       mean and std, as OCR pre-processing feeds the PaddleOCR models; seeded like 'uniform'.
//   --check-load        only create an ORT session for each model (and print its inputs/outputs).
//   --save-inputs DIR   write the first sample's inputs to DIR as TensorProto files input_K.pb (K in
//                       ONNX Runtime's input order), e.g. to replay them (bench/ort_first_difference.sh).
//   --executor BIN      compare ONNX Runtime with compressor's reference executor on one model: the inputs
//                       are written as TensorProto files, `BIN exec MODEL --input ... --output-dir ...`
//                       runs them, and its output_K.pb files are compared with ORT's outputs.
//
// Inputs are generated from A's input metadata; B must have the same input names and element types and
// compatible shapes. Outputs must match by name, element type and shape.
// Sessions are single-threaded with graph optimizations disabled, for a faithful comparison.
//
// onnxruntime-node is looked up via NODE_PATH (plain require), then $COMPRESSOR_DEPS_DIR/node_modules,
// then <repo>/.deps/node_modules (see tools/scripts/fetch_test_deps.sh).
//
// Exit codes: 0 match / loaded, 1 mismatch or ORT load/run failure, 2 usage error or unsupported input,
// 77 onnxruntime-node unavailable (CTest SKIP_RETURN_CODE).
'use strict';

const fs = require('fs');
const path = require('path');

const EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_SKIP = 77;
const TAG = 'ort_compare:';

class UsageError extends Error {}

// ---------------------------------------------------------------- onnxruntime-node lookup

function loadOrt() {
  const candidates = [];
  if (process.env.COMPRESSOR_DEPS_DIR) {
    candidates.push(path.resolve(process.env.COMPRESSOR_DEPS_DIR, 'node_modules', 'onnxruntime-node'));
  }
  candidates.push(path.join(__dirname, '..', '..', '.deps', 'node_modules', 'onnxruntime-node'));
  const errors = [];
  try {
    return require('onnxruntime-node');  // honours NODE_PATH
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND') errors.push(`NODE_PATH: ${firstLine(e.message)}`);
  }
  for (const dir of candidates) {
    if (!fs.existsSync(path.join(dir, 'package.json'))) continue;
    try {
      return require(dir);
    } catch (e) {
      errors.push(`${dir}: ${firstLine(e.message)}`);  // installed but the native binding failed to load
    }
  }
  console.error(`${TAG} SKIP onnxruntime-node not found (set NODE_PATH or COMPRESSOR_DEPS_DIR, ` +
                `or run tools/scripts/fetch_test_deps.sh)`);
  for (const err of errors) console.error(`${TAG}   ${err}`);
  process.exit(EXIT_SKIP);
}

function firstLine(s) { return String(s).split('\n')[0]; }

// ---------------------------------------------------------------- command line

function parseArgs(argv) {
  const opts = { models: [], dims: new Map(), seed: 1, samples: 1, rtol: 1e-4, atol: null, minCosine: null, ortOptimize: false, lo: 0, hi: 1, checkLoad: false, executor: null, pattern: 'uniform', saveInputs: null };
  const value = (i, flag) => {
    if (i >= argv.length) throw new UsageError(`${flag} needs a value`);
    return argv[i];
  };
  const number = (s, flag) => {
    const n = Number(s);
    if (s.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${flag}: not a number: ${s}`);
    return n;
  };
  const integer = (s, flag, min, max) => {
    const n = number(s, flag);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag}: expected an integer in [${min}, ${max}]: ${s}`);
    return n;
  };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '--dim') {
      const spec = value(++i, a);
      const eq = spec.lastIndexOf('=');
      if (eq <= 0) throw new UsageError(`--dim expects NAME=VALUE, got: ${spec}`);
      opts.dims.set(spec.slice(0, eq), integer(spec.slice(eq + 1), '--dim', 0, 2 ** 31 - 1));
    } else if (a === '--seed') {
      opts.seed = integer(value(++i, a), a, 0, 2 ** 32 - 1);
    } else if (a === '--samples') {
      opts.samples = integer(value(++i, a), a, 1, 1e6);
    } else if (a === '--rtol') {
      opts.rtol = number(value(++i, a), a);
      if (opts.rtol < 0) throw new UsageError('--rtol must be >= 0');
    } else if (a === '--atol') {
      opts.atol = number(value(++i, a), a);
      if (opts.atol < 0) throw new UsageError('--atol must be >= 0');
    } else if (a === '--min-cosine') {
      opts.minCosine = number(value(++i, a), a);
    } else if (a === '--ort-optimize') {
      opts.ortOptimize = true;
    } else if (a === '--input-range') {
      const parts = value(++i, a).split(',');
      if (parts.length !== 2) throw new UsageError('--input-range expects LO,HI');
      [opts.lo, opts.hi] = parts.map((p) => number(p, a));
      if (!(opts.lo <= opts.hi)) throw new UsageError('--input-range needs LO <= HI');
    } else if (a === '--input-pattern') {
      opts.pattern = value(++i, a);
      if (!['uniform', 'document'].includes(opts.pattern)) throw new UsageError(`--input-pattern: expected uniform or document, got ${opts.pattern}`);
    } else if (a === '--save-inputs') {
      opts.saveInputs = value(++i, a);
      if (!fs.existsSync(opts.saveInputs)) throw new UsageError(`--save-inputs: no such folder: ${opts.saveInputs}`);
    } else if (a === '--check-load') {
      opts.checkLoad = true;
    } else if (a === '--executor') {
      opts.executor = value(++i, a);
      if (!fs.existsSync(opts.executor)) throw new UsageError(`no such file: ${opts.executor}`);
    } else if (a === '-h' || a === '--help') {
      throw new UsageError('');
    } else if (a.startsWith('-')) {
      throw new UsageError(`unknown option ${a}`);
    } else {
      opts.models.push(a);
    }
  }
  const wanted = opts.checkLoad ? null : opts.executor ? 1 : 2;
  if (opts.checkLoad ? opts.models.length < 1 : opts.models.length !== wanted) {
    throw new UsageError(opts.checkLoad ? '--check-load needs at least one model'
                         : opts.executor ? '--executor needs exactly one model' : 'expected exactly two models A.onnx B.onnx');
  }
  for (const m of opts.models) {
    if (!fs.existsSync(m)) throw new UsageError(`no such file: ${m}`);
  }
  return opts;
}

const USAGE = `usage: node ort_compare.js A.onnx B.onnx [--dim NAME=VALUE]... [--seed S] [--samples N]
                          [--rtol R] [--atol A] [--input-range LO,HI]
       node ort_compare.js --executor COMPRESSOR_BIN MODEL.onnx [same options]
       node ort_compare.js --check-load MODEL.onnx...`;

// ---------------------------------------------------------------- inputs

// mulberry32: tiny deterministic PRNG, returns floats in [0, 1).
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Element type -> [TypedArray constructor, value generator(rand, opts)].
const INPUT_TYPES = {
  float32: [Float32Array, (r, o) => o.lo + (o.hi - o.lo) * r()],
  float64: [Float64Array, (r, o) => o.lo + (o.hi - o.lo) * r()],
  int64: [BigInt64Array, (r) => BigInt(Math.floor(r() * 10))],
  int32: [Int32Array, (r) => Math.floor(r() * 10)],
  int8: [Int8Array, (r) => Math.floor(r() * 10)],
  uint8: [Uint8Array, (r) => Math.floor(r() * 10)],
  bool: [Uint8Array, (r) => (r() < 0.5 ? 0 : 1)],
};

// Concrete shape of an input: numbers stay, symbolic dims come from --dim or default to 1.
function resolveShape(meta, dims) {
  return meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : dims.has(d) ? dims.get(d) : 1));
}

function describe(meta) {
  if (!meta.isTensor) return `${meta.name} (non-tensor)`;
  return `${meta.name} ${meta.type} [${meta.shape.map((d) => (typeof d === 'string' ? (d === '' ? '?' : d) : d)).join(',')}]`;
}

// Check B's inputs against A's and the --dim names; returns [{name, type, shape}] to feed. Throws UsageError.
function planInputs(sessA, sessB, opts) {
  const metaB = new Map(sessB.inputMetadata.map((m) => [m.name, m]));
  const symbols = new Set();
  for (const m of [...sessA.inputMetadata, ...sessB.inputMetadata]) {
    if (m.isTensor) for (const d of m.shape) if (typeof d === 'string') symbols.add(d);
  }
  for (const name of opts.dims.keys()) {
    if (!symbols.has(name)) {
      throw new UsageError(`--dim ${name}: no input uses this dimension (known: ${[...symbols].filter(Boolean).join(', ') || 'none'})`);
    }
  }
  if (sessA.inputNames.length !== sessB.inputNames.length || sessA.inputNames.some((n) => !metaB.has(n))) {
    return { error: `input names differ: A [${sessA.inputNames}] vs B [${sessB.inputNames}]` };
  }
  const plan = [];
  for (const a of sessA.inputMetadata) {
    const b = metaB.get(a.name);
    if (!a.isTensor || !b.isTensor) throw new UsageError(`unsupported non-tensor input ${a.name}`);
    if (!INPUT_TYPES[a.type]) throw new UsageError(`unsupported input type ${a.type} for ${a.name}`);
    if (a.type !== b.type) return { error: `input ${a.name}: type ${a.type} in A vs ${b.type} in B` };
    const shape = resolveShape(a, opts.dims);
    const shapeB = resolveShape(b, opts.dims);
    // B's static dims must agree with the shape we feed; B's symbolic dims accept anything.
    const ok = b.shape.length === 0 || a.shape.length === 0 ||
               (shapeB.length === shape.length && b.shape.every((d, i) => typeof d !== 'number' || d < 0 || d === shape[i]));
    if (!ok) return { error: `input ${a.name}: shape ${describe(a)} in A vs ${describe(b)} in B` };
    plan.push({ name: a.name, type: a.type, shape });
  }
  return { plan };
}

// A page of dark strokes on white, in lines, as [3, H, W] ImageNet-normalized floats.
function documentImage(data, offset, h, w, rand) {
  const pixel = new Float32Array(h * w).fill(1);
  const lineHeight = Math.max(4, Math.round(h / (3 + Math.floor(rand() * 5))));
  for (let top = Math.floor(rand() * lineHeight); top + lineHeight <= h; top += lineHeight) {
    const glyph = Math.max(2, Math.round(lineHeight * 0.6));
    for (let x = Math.floor(rand() * glyph); x + glyph <= w; x += Math.round(glyph * (0.8 + rand()))) {
      if (rand() < 0.15) continue;  // spaces between words
      const y0 = top + Math.floor(lineHeight * 0.2), stroke = Math.max(1, Math.round(glyph / 5));
      for (let k = 0; k < 3; ++k) {  // a few strokes per glyph: bars and stems
        const vertical = rand() < 0.5;
        const sx = x + Math.floor(rand() * glyph), sy = y0 + Math.floor(rand() * glyph);
        for (let dy = 0; dy < (vertical ? glyph : stroke); ++dy) {
          for (let dx = 0; dx < (vertical ? stroke : glyph); ++dx) {
            const yy = (vertical ? y0 : sy) + dy, xx = (vertical ? sx : x) + dx;
            if (yy < h && xx < w) pixel[yy * w + xx] = 0.1 * rand();
          }
        }
      }
    }
  }
  const mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
  for (let c = 0; c < 3; ++c) {
    for (let i = 0; i < h * w; ++i) data[offset + c * h * w + i] = (pixel[i] - mean[c]) / std[c];
  }
}

function makeFeeds(ort, plan, rand, opts) {
  const feeds = {};
  for (const { name, type, shape } of plan) {
    const [Ctor, gen] = INPUT_TYPES[type];
    const size = shape.reduce((x, y) => x * y, 1);
    const data = new Ctor(size);
    if (opts.pattern === 'document' && type === 'float32' && shape.length === 4 && shape[1] === 3) {
      const [n, , h, w] = shape;
      for (let b = 0; b < n; ++b) documentImage(data, b * 3 * h * w, h, w, rand);
      feeds[name] = new ort.Tensor(type, data, shape);
      continue;
    }
    for (let i = 0; i < size; ++i) data[i] = gen(rand, opts);
    feeds[name] = new ort.Tensor(type, data, shape);
  }
  return feeds;
}

// ---------------------------------------------------------------- TensorProto files

// ONNX TensorProto.DataType codes of the element types we exchange with the executor.
const ONNX_TYPES = {
  float32: [1, Float32Array], uint8: [2, Uint8Array], int8: [3, Int8Array], int32: [6, Int32Array],
  int64: [7, BigInt64Array], bool: [9, Uint8Array], float64: [11, Float64Array],
};

function varint(n) {
  const out = [];
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return Buffer.from(out);
}

// A TensorProto with dims, data_type, name and raw_data (little-endian, as ONNX stores it).
function encodeTensor(name, type, dims, data) {
  const [code] = ONNX_TYPES[type];
  const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const parts = [];
  for (const d of dims) parts.push(Buffer.from([0x08]), varint(d));  // 1: dims
  parts.push(Buffer.from([0x10]), varint(code));                       // 2: data_type
  const nameBytes = Buffer.from(name, 'utf8');
  parts.push(Buffer.from([0x42]), varint(nameBytes.length), nameBytes); // 8: name
  parts.push(Buffer.from([0x4a]), varint(raw.length), raw);            // 9: raw_data
  return Buffer.concat(parts);
}

// Reads dims, data_type and the values (raw_data or the typed repeated fields) of a TensorProto.
function decodeTensor(buf) {
  let pos = 0;
  const readVarint = () => {
    let result = 0n, shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated TensorProto');
      const b = buf[pos++];
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
    }
  };
  const t = { dims: [], code: 0, raw: null, floats: [], doubles: [], ints: [] };
  while (pos < buf.length) {
    const key = Number(readVarint());
    const field = key >>> 3, wire = key & 7;
    if (wire === 0) {
      const v = readVarint();
      if (field === 1) t.dims.push(Number(v));
      else if (field === 2) t.code = Number(v);
      else if (field === 5 || field === 7) t.ints.push(BigInt.asIntN(64, v));
    } else if (wire === 2) {
      const len = Number(readVarint());
      const body = buf.subarray(pos, pos + len);
      pos += len;
      if (field === 9) t.raw = body;
      else if (field === 1 || field === 5 || field === 7) {  // packed varints
        const save = [buf, pos];
        buf = body; pos = 0;
        while (pos < buf.length) {
          const v = readVarint();
          if (field === 1) t.dims.push(Number(v)); else t.ints.push(BigInt.asIntN(64, v));
        }
        [buf, pos] = save;
      } else if (field === 4) for (let i = 0; i + 4 <= body.length; i += 4) t.floats.push(body.readFloatLE(i));
      else if (field === 10) for (let i = 0; i + 8 <= body.length; i += 8) t.doubles.push(body.readDoubleLE(i));
    } else if (wire === 5) pos += 4;
    else if (wire === 1) pos += 8;
    else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
  const entry = Object.entries(ONNX_TYPES).find(([, [code]]) => code === t.code);
  if (!entry) throw new Error(`unsupported TensorProto data_type ${t.code}`);
  const [type, [, Ctor]] = entry;
  let data;
  if (t.raw) {
    const copy = Buffer.from(t.raw);  // aligned copy
    data = new Ctor(copy.buffer, copy.byteOffset, copy.byteLength / Ctor.BYTES_PER_ELEMENT);
  } else if (t.code === 1) data = Float32Array.from(t.floats);
  else if (t.code === 11) data = Float64Array.from(t.doubles);
  else if (t.code === 7) data = BigInt64Array.from(t.ints);
  else data = Ctor.from(t.ints.map(Number));
  return { type, dims: t.dims, data };
}

// Runs `bin exec` on the feeds (written as TensorProto files) and returns its outputs by name.
function runExecutor(bin, model, feeds, outputNames, dir) {
  const { spawnSync } = require('child_process');
  const args = ['-q', 'exec', model, '--threads', '1', '--output-dir', dir];
  let k = 0;
  for (const [name, t] of Object.entries(feeds)) {
    const file = path.join(dir, `input_${k++}.pb`);
    fs.writeFileSync(file, encodeTensor(name, t.type, t.dims, t.data));
    args.push('--input', `${name}=${file}`);
  }
  const r = spawnSync(bin, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${bin} exec failed (exit ${r.status}): ${(r.stderr || '').trim()}`);
  const out = {};
  outputNames.forEach((name, i) => { out[name] = decodeTensor(fs.readFileSync(path.join(dir, `output_${i}.pb`))); });
  return out;
}

// ---------------------------------------------------------------- comparison

// Relative L2 difference and max abs difference of two tensors of equal size. NaN/Inf at the same
// position in both count as equal; a NaN/Inf in only one makes the result Infinity.
function diff(a, b) {
  let num = 0, den = 0, bb = 0, dot = 0, maxAbs = 0;
  for (let i = 0; i < a.length; ++i) {
    const x = Number(a[i]), y = Number(b[i]);
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      if (Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y))) continue;
      return { rel: Infinity, maxAbs: Infinity, cosine: -Infinity };
    }
    const d = Math.abs(x - y);
    num += d * d;
    den += x * x;
    bb += y * y;
    dot += x * y;
    if (d > maxAbs) maxAbs = d;
  }
  const cosine = num === 0 ? 1 : den === 0 || bb === 0 ? 0 : dot / Math.sqrt(den * bb);
  return { rel: Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-12), maxAbs, cosine };
}

const fmt = (x) => (Number.isFinite(x) ? x.toExponential(3) : String(x));

// ---------------------------------------------------------------- main

const SESSION_OPTIONS = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'disabled',
  logSeverityLevel: 4,  // fatal only: load/run errors are reported through the exceptions we print
};

async function createSession(ort, file, optimize = false) {
  try {
    return await ort.InferenceSession.create(
        file, optimize ? { ...SESSION_OPTIONS, graphOptimizationLevel: 'all' } : SESSION_OPTIONS);
  } catch (e) {
    console.log(`${TAG} FAIL ORT cannot load ${file}: ${String(e.message).trim()}`);
    process.exit(EXIT_FAIL);
  }
}

async function checkLoad(ort, opts) {
  for (const file of opts.models) {
    const s = await createSession(ort, file);
    console.log(`loaded ${file}`);
    for (const m of s.inputMetadata) console.log(`  input  ${describe(m)}`);
    for (const m of s.outputMetadata) console.log(`  output ${describe(m)}`);
    await s.release();
  }
  console.log(`${TAG} OK`);
  return EXIT_OK;
}

async function compare(ort, opts) {
  const start = process.hrtime.bigint();
  const [fileA] = opts.models;
  const fileB = opts.executor ? `compressor exec ${fileA}` : opts.models[1];
  const sessA = await createSession(ort, fileA, opts.ortOptimize);
  // With --executor, B is our executor on the same model: ORT's view of the model describes both.
  const sessB = opts.executor ? sessA : await createSession(ort, fileB);
  const tmp = opts.executor ? fs.mkdtempSync(path.join(require('os').tmpdir(), 'ort_compare-')) : null;

  const fail = (msg) => { console.log(`${TAG} FAIL ${msg}`); return EXIT_FAIL; };
  const { plan, error } = planInputs(sessA, sessB, opts);
  if (error) return fail(error);
  const namesA = [...sessA.outputNames].sort(), namesB = [...sessB.outputNames].sort();
  if (namesA.join('\0') !== namesB.join('\0')) return fail(`output names differ: A [${namesA}] vs B [${namesB}]`);
  for (const p of plan) console.log(`input ${p.name}: ${p.type} [${p.shape}]`);

  // Worst result per output over all samples.
  const worst = new Map(sessA.outputNames.map((n) => [n, { rel: 0, maxAbs: 0, cosine: 1, problem: null, desc: '' }]));
  for (let s = 0; s < opts.samples; ++s) {
    const rand = mulberry32((opts.seed + Math.imul(s, 0x9E3779B9)) >>> 0);
    const feeds = makeFeeds(ort, plan, rand, opts);
    if (s === 0 && opts.saveInputs) {
      Object.entries(feeds).forEach(([name, t], k) => fs.writeFileSync(path.join(opts.saveInputs, `input_${k}.pb`),
                                                                     encodeTensor(name, t.type, t.dims, t.data)));
    }
    let outA, outB;
    try { outA = await sessA.run(feeds); } catch (e) { return fail(`ORT cannot run ${fileA}: ${String(e.message).trim()}`); }
    if (opts.executor) {
      try { outB = runExecutor(opts.executor, fileA, feeds, sessA.outputNames, tmp); } catch (e) { return fail(String(e.message)); }
    } else {
      try { outB = await sessB.run(feeds); } catch (e) { return fail(`ORT cannot run ${fileB}: ${String(e.message).trim()}`); }
    }
    for (const name of sessA.outputNames) {
      const a = outA[name], b = outB[name], w = worst.get(name);
      w.desc = `${a.type} [${a.dims}]`;
      if (w.problem) continue;
      if (a.type !== b.type) { w.problem = `type ${a.type} vs ${b.type}`; continue; }
      if (a.dims.join(',') !== b.dims.join(',')) { w.problem = `shape [${a.dims}] vs [${b.dims}]`; continue; }
      if (a.type === 'string') {  // compare strings exactly
        const same = a.data.every((v, i) => v === b.data[i]);
        if (!same) w.rel = w.maxAbs = Infinity;
        continue;
      }
      const d = diff(a.data, b.data);
      w.rel = Math.max(w.rel, d.rel);
      w.maxAbs = Math.max(w.maxAbs, d.maxAbs);
      w.cosine = Math.min(w.cosine, d.cosine);
    }
  }

  const bad = [];
  for (const [name, w] of worst) {
    const ok = !w.problem && ((opts.minCosine === null ? w.rel <= opts.rtol : w.cosine >= opts.minCosine) ||
                              (opts.atol !== null && w.maxAbs <= opts.atol));
    if (!ok) bad.push(name);
    const detail = w.problem ? w.problem : `rel=${fmt(w.rel)} max_abs=${fmt(w.maxAbs)} cosine=${w.cosine.toFixed(6)}`;
    console.log(`output ${name}: ${w.desc} ${detail} ${ok ? 'ok' : 'MISMATCH'}`);
  }
  await sessA.release();
  if (!opts.executor) await sessB.release();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  const secs = (Number(process.hrtime.bigint() - start) / 1e9).toFixed(2);
  const judged = (opts.minCosine === null ? `rtol ${opts.rtol}` : `cosine >= ${opts.minCosine}`) +
                 (opts.atol === null ? '' : ` or max_abs <= ${opts.atol}`);
  const summary = `${worst.size} output(s), ${opts.samples} sample(s), ${judged}, ${secs}s`;
  if (bad.length) return fail(`${bad.length} output(s) differ: ${bad.join(', ')} (${summary})`);
  console.log(`${TAG} OK (${summary})`);
  return EXIT_OK;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    if (e.message) console.error(`${TAG} ${e.message}`);
    console.error(USAGE);
    return EXIT_USAGE;
  }
  const ort = loadOrt();
  try {
    return opts.checkLoad ? await checkLoad(ort, opts) : await compare(ort, opts);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`${TAG} ${e.message}`);
    return EXIT_USAGE;
  }
}

main().then(
  (code) => { process.exitCode = code; },
  (e) => { console.log(`${TAG} FAIL ${e && e.stack ? e.stack : e}`); process.exitCode = EXIT_FAIL; },
);
