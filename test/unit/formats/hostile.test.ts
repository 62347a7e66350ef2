import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isNormLensError } from '../../../src/core/errors';
import { openDump } from '../../../src/core/formats/openDump';
import { MemoryByteSource } from '../../../src/core/io/byteSource';
import { FIXTURES, fixtureSource } from './helpers';

const manifest = JSON.parse(readFileSync(join(FIXTURES, 'hostile', 'manifest.json'), 'utf8')) as Record<string, string>;

/** Opens and reads every tensor front to back in chunks; resolves when all of it decoded. */
async function openAndReadAll(source: MemoryByteSource): Promise<void> {
  const dump = await openDump(source);
  for (const t of dump.tensors) {
    for (let start = 0; start < t.info.size; start += 1 << 16) await t.read(start, Math.min(1 << 16, t.info.size - start));
  }
}

describe('hostile corpus: every bad file is refused cleanly, fast, in bounded memory', () => {
  const names = Object.keys(manifest);
  it('has at least 30 distinct files', () => assert.ok(names.length >= 30, `${names.length}`));

  const rssBefore = process.memoryUsage().rss;
  for (const name of names) {
    it(name, async () => {
      const started = performance.now();
      const error = await openAndReadAll(fixtureSource(`hostile/${name}`)).then(
        () => undefined,
        (e: unknown) => e,
      );
      const elapsed = performance.now() - started;
      assert.ok(error !== undefined, 'expected the file to be refused');
      assert.ok(isNormLensError(error), `expected a NormLensError, got ${String(error)}`);
      const message = (error as Error).message;
      assert.match(message, new RegExp(manifest[name]!, 's'));
      assert.ok(message.startsWith(name), `the message should name the file: ${message}`);
      assert.ok(elapsed < 1000, `took ${elapsed.toFixed(0)} ms`);
    });
  }
  it('did not allocate anything huge while refusing them', () => {
    const growth = process.memoryUsage().rss - rssBefore;
    assert.ok(growth < 256 * 1024 * 1024, `RSS grew by ${(growth / 2 ** 20).toFixed(0)} MiB`);
  });

  it('refuses JSON beyond the element limit and text size limit, naming the limit and suggesting .npy', async () => {
    const text = new TextEncoder().encode(JSON.stringify(Array.from({ length: 1000 }, (_, i) => i)));
    await assert.rejects(openDump(new MemoryByteSource(text, 'big.json'), { limits: { maxJsonElements: 999 } }), (e: Error) => isNormLensError(e) && /more than 999 numbers.*\.npy/.test(e.message));
    await assert.rejects(openDump(new MemoryByteSource(text, 'big.json'), { limits: { maxJsonBytes: 100 } }), (e: Error) => isNormLensError(e) && /over the 100 bytes limit.*\.npy/.test(e.message));
  });

  it('refuses Fortran-order arrays beyond the in-memory reorder limit with a fix', async () => {
    const dump = await openDump(fixtureSource('npy/fortran_f4_3d.npy'), { limits: { maxFortranOrderBytes: 16 } });
    await assert.rejects(dump.tensors[0]!.read(0, 1), (e: Error) => isNormLensError(e) && /np\.ascontiguousarray/.test(e.message));
  });
});
