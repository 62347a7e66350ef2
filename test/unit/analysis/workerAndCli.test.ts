import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAnalyze, writeJson } from '../../../src/cli/analyzeCommand';
import { main } from '../../../src/cli/main';
import type { AnalysisReport } from '../../../src/core/report/analysisReport';
import { MemoryByteSource } from '../../../src/core/io/byteSource';
import { analyzeFile, WorkerPool, resolveWorkerScript } from '../../../src/worker/workerRunner';
import { readFileSync } from 'node:fs';

const ROOT = join(__dirname, '..', '..', '..');
const TRANSFORMER = join(ROOT, 'test', 'fixtures', 'analysis', 'transformer.npz');

function capture(): { io: { out(t: string): void; err(t: string): void }; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { io: { out: (t) => (out += t), err: (t) => (err += t) }, out: () => out, err: () => err };
}

function maxDifference(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) && Number.isNaN(b) ? 0 : Math.abs(a - b) / Math.max(1, Math.abs(a));
  if (a && typeof a === 'object' && b && typeof b === 'object') {
    let worst = 0;
    for (const k of Object.keys(a)) if (k !== 'timing') worst = Math.max(worst, maxDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
    return worst;
  }
  assert.deepEqual(a, b);
  return 0;
}

describe('worker runner', () => {
  it('two workers give the in-process report (to 1e-12)', async () => {
    const inProcess = (await analyzeFile(TRANSFORMER, { workers: 0 })).report;
    const workers = (await analyzeFile(TRANSFORMER, { workers: 2, minElementsForWorkers: 0 })).report;
    assert.equal(inProcess.timing.workers, 0);
    assert.equal(workers.timing.workers, 2);
    assert.ok(maxDifference(inProcess, workers) < 1e-12);
  });

  it('passes open options to openDump in this thread and in every worker', async () => {
    // bfloat16 bit patterns saved as <u2: only bf16FromUint16 reads them as floats.
    const dir = mkdtempSync(join(tmpdir(), 'normlens-open-'));
    try {
      const T = 64;
      const H = 32;
      const bits = new Uint16Array(T * H);
      const f = new Float32Array(1);
      const u = new Uint32Array(f.buffer);
      for (let i = 0; i < bits.length; i++) {
        f[0] = Math.sin(i * 0.37) * 3 + (i % H === 5 ? 20 : 0);
        bits[i] = u[0]! >>> 16;
      }
      let header = `{'descr': '<u2', 'fortran_order': False, 'shape': (${T}, ${H}), }`;
      header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
      const prologue = Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY'), Buffer.from([1, 0, header.length & 0xff, header.length >> 8]), Buffer.from(header, 'latin1')]);
      const path = join(dir, 'bf16.npy');
      writeFileSync(path, Buffer.concat([prologue, Buffer.from(bits.buffer)]));
      const open = { bf16FromUint16: true };
      const inProcess = (await analyzeFile(path, { workers: 0, open })).report;
      const workers = (await analyzeFile(path, { workers: 2, minElementsForWorkers: 0, open })).report;
      assert.equal(inProcess.input.dtype, 'bfloat16');
      assert.equal(workers.timing.workers, 2);
      assert.ok(maxDifference(inProcess, workers) < 1e-12);
      // Without the option the array is uint16: not something to normalize.
      await assert.rejects(analyzeFile(path, { workers: 0 }), /floating-point/);
      await assert.rejects(analyzeFile(path, { workers: 2, minElementsForWorkers: 0, open: { limits: { maxNpyHeaderBytes: 16 } } }), /header/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('raised limits reach every worker, not only this thread (a header over the default limit)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'normlens-limits-'));
    try {
      const T = 64;
      const H = 32;
      const values = new Float32Array(T * H).map((_, i) => Math.sin(i * 0.1));
      // A header of ~12 kB: over numpy's (and NormLens's) default maxNpyHeaderBytes of 10000.
      let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${T}, ${H}), }`;
      header += ' '.repeat(12000 + 63 - ((10 + header.length + 12000) % 64)) + '\n';
      const prologue = Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY'), Buffer.from([1, 0, header.length & 0xff, header.length >> 8]), Buffer.from(header, 'latin1')]);
      const path = join(dir, 'big-header.npy');
      writeFileSync(path, Buffer.concat([prologue, Buffer.from(values.buffer)]));
      await assert.rejects(analyzeFile(path, { workers: 2, minElementsForWorkers: 0 }), /header/);
      const open = { limits: { maxNpyHeaderBytes: 20000 } };
      const r = await analyzeFile(path, { workers: 2, minElementsForWorkers: 0, open });
      assert.equal(r.report.timing.workers, 2);
      assert.deepEqual(r.report.input.shape, [T, H]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('returns the dump’s tensors, roles and tokens with the report, and keeps the dump open when asked', async () => {
    const r = await analyzeFile(TRANSFORMER, { workers: 0, keepOpen: true });
    try {
      assert.ok(r.tensors.length >= 2);
      assert.equal(r.roles.get(r.report.input.name), 'input');
      assert.ok(r.opened, 'the dump stays open');
      const input = r.opened!.dump.tensors.find((t) => t.info.name === r.report.input.name);
      assert.ok(input);
      assert.equal((await input!.read(0, 4)).length, 4);
    } finally {
      await r.opened?.close();
    }
    const chosen = await analyzeFile(TRANSFORMER, { workers: 0, analysis: { tensor: r.report.input.name } });
    assert.equal(chosen.opened, undefined);
    assert.equal(chosen.roles.get(r.report.input.name), 'input');
  });

  it('analyzes a ByteSource (a file read through workspace.fs) in process, to the same report', async () => {
    const fromPath = await analyzeFile(TRANSFORMER, { workers: 0 });
    const fromBytes = await analyzeFile(new MemoryByteSource(new Uint8Array(readFileSync(TRANSFORMER)), 'transformer.npz'), { workers: 2 });
    assert.equal(fromBytes.report.timing.workers, 0, 'no workers without a path to open');
    assert.ok(maxDifference(fromPath.report, fromBytes.report) < 1e-12);
    assert.deepEqual(fromBytes.tensors, fromPath.tensors);
  });

  it('a cancelled run stops the workers and rejects', async () => {
    const flag = { aborted: true };
    await assert.rejects(analyzeFile(TRANSFORMER, { workers: 2, minElementsForWorkers: 0, cancellation: flag }), /cancelled/);
  });

  it('a long-lived pool serves run after run: same reports, a cancelled run leaves it working', async () => {
    const pool = new WorkerPool(2, resolveWorkerScript(), undefined);
    try {
      const inProcess = (await analyzeFile(TRANSFORMER, { workers: 0 })).report;
      const first = (await analyzeFile(TRANSFORMER, { pool, minElementsForWorkers: 0 })).report;
      assert.equal(first.timing.workers, 2);
      assert.ok(maxDifference(inProcess, first) < 1e-12);
      // A run cancelled mid-way rejects; the pool is not stopped and serves the next run.
      const flag = { aborted: false };
      const cancelled = analyzeFile(TRANSFORMER, { pool, minElementsForWorkers: 0, cancellation: flag, onMark: (m) => m === 'planned' && (flag.aborted = true) });
      await assert.rejects(cancelled, /cancelled/);
      assert.equal(pool.failed, null);
      assert.equal(pool.size, 2);
      const again = (await analyzeFile(TRANSFORMER, { pool, minElementsForWorkers: 0 })).report;
      assert.ok(maxDifference(inProcess, again) < 1e-12);
      // Workers close their dumps between runs; the next run opens it again.
      await pool.closeDumps();
      const last = (await analyzeFile(TRANSFORMER, { pool, minElementsForWorkers: 0 })).report;
      assert.ok(maxDifference(inProcess, last) < 1e-12);
    } finally {
      await pool.dispose();
    }
  });
});

describe('normlens analyze', () => {
  it('writes --json in pieces that join to exactly JSON.stringify of the report', async () => {
    const { report } = await analyzeFile(TRANSFORMER, { workers: 0 });
    const nested = { ...report, extra: [{ a: [1, NaN, Infinity, -0, 'x'], b: undefined }, null, [[1, 2], { c: 3 }]], big: Array.from({ length: 1000 }, (_, i) => (i % 7 === 0 ? NaN : i / 3)) };
    for (const [pieceChars, sliceLength] of [[1, 1], [100, 7], [1 << 20, 8192]] as const) {
      const pieces: string[] = [];
      writeJson(nested, (t) => pieces.push(t), pieceChars, sliceLength);
      assert.equal(pieces.join(''), JSON.stringify(nested));
      if (pieceChars === 100) assert.ok(pieces.length > 10);
    }
    const c = capture();
    await runAnalyze([TRANSFORMER, '--json'], c.io);
    const parsed = JSON.parse(c.out()) as AnalysisReport;
    assert.equal(parsed.schemaVersion, 1);
    assert.ok(c.out().endsWith('}\n'));
  });

  it('prints a summary with the warning codes and exits 0', async () => {
    const c = capture();
    const code = await runAnalyze([join(ROOT, 'media', 'samples', 'transformer-block.npz')], c.io);
    assert.equal(code, 0);
    assert.match(c.out(), /best match layernorm/);
    assert.match(c.out(), /\[padding-in-batch-stats\]/);
  });

  it('--json prints the full report; --fail-on warning exits 1', async () => {
    const c = capture();
    const code = await runAnalyze([TRANSFORMER, '--json', '--fail-on', 'warning'], c.io);
    assert.equal(code, 1);
    const report = JSON.parse(c.out()) as AnalysisReport;
    assert.equal(report.schemaVersion, 1);
    assert.deepEqual(Object.keys(report.layout).slice(0, 3), ['featureAxis', 'tokens', 'features']);
    assert.equal(report.comparison?.bestMatch, 'layernorm');
  });

  it('--feature-axis 1 on the CNN sample; bad input exits 2 with one line', async () => {
    const ok = capture();
    assert.equal(await runAnalyze([join(ROOT, 'media', 'samples', 'cnn-batchnorm.npz'), '--feature-axis', '1', '--fail-on', 'error'], ok.io), 0);
    assert.match(ok.out(), /8 features/);
    const bad = capture();
    assert.equal(await main(['analyze', TRANSFORMER, '--bins', 'many'], bad.io), 2);
    assert.match(bad.err(), /^normlens: error: --bins many: expected an integer\.\n$/);
    const missing = capture();
    assert.equal(await main(['analyze', TRANSFORMER, '--tensor', 'nope'], missing.io), 2);
    assert.match(missing.err(), /nope/);
  });
});
