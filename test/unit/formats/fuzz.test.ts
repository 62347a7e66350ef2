import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isNormLensError } from '../../../src/core/errors';
import { openDump } from '../../../src/core/formats/openDump';
import { MemoryByteSource } from '../../../src/core/io/byteSource';
import { FIXTURES } from './helpers';

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEEDS = [
  'npy/float32_le.npy',
  'npy/float64_be.npy',
  'npy/int64_le.npy',
  'npy/fortran_f4_3d.npy',
  'npy/version_3_0.npy',
  'npy/misaligned_f8_le.npy',
  'npy/scalar_0d.npy',
  'npz/stored.npz',
  'npz/compressed.npz',
  'npz/unicode_names.npz',
  'npz/with_text_member.npz',
  'safetensors/all_dtypes.safetensors',
  'safetensors/misaligned.safetensors',
  'json/named.json',
  'json/string_specials.json',
];

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0xffffffff, 0x10000, 0x100000];
const SYNTAX = [...'(){}[]:,\'"0123456789-.eE TFN\n'].map((c) => c.charCodeAt(0));

/** One mutation of `input`: bit flips, truncation, insertion, deletion, numeric field or syntax rewrites. */
function mutate(input: Uint8Array, random: () => number): { bytes: Uint8Array; how: string } {
  const at = (limit: number): number => Math.floor(random() * limit);
  const bytes = input.slice();
  const kind = at(7);
  // Bias positions toward headers / directories (the start and the end of the file).
  const position = (): number => {
    const r = random();
    if (r < 0.45) return at(Math.min(bytes.length, 256));
    if (r < 0.7) return Math.max(0, bytes.length - 1 - at(Math.min(bytes.length, 200)));
    return at(bytes.length);
  };
  switch (kind) {
    case 0: {
      const flips = 1 + at(8);
      for (let i = 0; i < flips; i++) bytes[position()]! ^= 1 << at(8);
      return { bytes, how: `flip ${flips} bits` };
    }
    case 1: {
      const cut = at(bytes.length);
      return { bytes: bytes.subarray(0, cut), how: `truncate at ${cut}` };
    }
    case 2: {
      const p = position();
      const extra = new Uint8Array(1 + at(16)).map(() => at(256));
      const out = new Uint8Array(bytes.length + extra.length);
      out.set(bytes.subarray(0, p));
      out.set(extra, p);
      out.set(bytes.subarray(p), p + extra.length);
      return { bytes: out, how: `insert ${extra.length} bytes at ${p}` };
    }
    case 3: {
      const p = position();
      const n = Math.min(1 + at(8), bytes.length - p);
      const out = new Uint8Array(Math.max(0, bytes.length - n));
      out.set(bytes.subarray(0, p));
      out.set(bytes.subarray(p + n), p);
      return { bytes: out, how: `delete ${n} bytes at ${p}` };
    }
    case 4:
    case 5: {
      const p = position();
      const view = new DataView(bytes.buffer);
      const width = [2, 4, 8][at(3)]!;
      if (p + width > bytes.length) return { bytes, how: 'no-op' };
      const value = random() < 0.5 ? INTERESTING[at(INTERESTING.length)]! : bytes.length + at(64) - 32;
      if (width === 2) view.setUint16(p, value & 0xffff, true);
      else if (width === 4) view.setUint32(p, value >>> 0, true);
      else view.setBigUint64(p, BigInt(Math.max(0, value)) * (random() < 0.2 ? 2n ** 32n : 1n), true);
      return { bytes, how: `write u${width * 8} ${value} at ${p}` };
    }
    default: {
      const p = position();
      bytes[p] = SYNTAX[at(SYNTAX.length)]!;
      return { bytes, how: `syntax byte at ${p}` };
    }
  }
}

async function openAndReadAll(bytes: Uint8Array, name: string): Promise<void> {
  const dump = await openDump(new MemoryByteSource(bytes, name));
  for (const t of dump.tensors) {
    for (let start = 0; start < t.info.size; start += 4096) await t.read(start, Math.min(4096, t.info.size - start));
  }
}

const CASES = 30_000;

describe('fuzz: mutated valid files give data or a NormLensError, nothing else, and never hang', function () {
  this.timeout(180_000);
  it(`${CASES} seeded cases`, async () => {
    const seeds = SEEDS.map((relative) => ({ name: relative.split('/').pop()!, bytes: new Uint8Array(readFileSync(join(FIXTURES, relative))) }));
    const random = prng(0x5eed1234);
    let accepted = 0;
    let refused = 0;
    const started = performance.now();
    for (let i = 0; i < CASES; i++) {
      const seed = seeds[i % seeds.length]!;
      let { bytes, how } = mutate(seed.bytes, random);
      if (random() < 0.3) {
        const again = mutate(bytes, random);
        bytes = again.bytes;
        how += `, ${again.how}`;
      }
      let timer: NodeJS.Timeout | undefined;
      const hang = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('HANG')), 5000);
      });
      try {
        await Promise.race([openAndReadAll(bytes, seed.name), hang]);
        accepted++;
      } catch (e) {
        if (!isNormLensError(e)) {
          assert.fail(`case ${i} (${seed.name}: ${how}) threw ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`);
        }
        // openDump wraps unexpected exceptions ("could not read ..."); from memory that would be a bug.
        if (/could not read (the|tensor)/.test((e as Error).message)) assert.fail(`case ${i} (${seed.name}: ${how}): internal error ${(e as Error).message}`);
        refused++;
      } finally {
        clearTimeout(timer);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    assert.equal(accepted + refused, CASES);
    assert.ok(refused > CASES / 4, `only ${refused} refused: the mutations are too gentle`);
    console.log(`      fuzz: ${CASES} cases in ${seconds.toFixed(1)} s, ${accepted} read fine, ${refused} refused with NormLensError`);
  });
});
