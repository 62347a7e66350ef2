import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { guessRoles } from '../../../src/core/dump/roles';
import { groupSites, siteAnalysis } from '../../../src/core/dump/sites';
import { openDump } from '../../../src/core/formats/openDump';
import { MemoryByteSource } from '../../../src/core/io/byteSource';

const ROOT = join(__dirname, '..', '..', '..');
/** The one-site analysis fixtures (scripts/fixtures/generate_analysis.py). */
const classic = readdirSync(join(ROOT, 'test', 'fixtures', 'analysis'))
  .filter((f) => /\.(npy|npz|safetensors)$/.test(f))
  .map((f) => join('test', 'fixtures', 'analysis', f));

describe('sites: one-site dumps keep the roles they had before sites existed', () => {
  for (const file of classic) {
    it(file, async () => {
      const dump = await openDump(new MemoryByteSource(new Uint8Array(readFileSync(join(ROOT, file))), file));
      const infos = dump.tensors.map((h) => h.info);
      const sites = groupSites(infos, { metadata: dump.metadata });
      assert.equal(sites.length, 1);
      const { options } = siteAnalysis(dump, sites[0]!);
      const named = (roles: ReadonlyMap<string, string>): [string, string][] => [...roles].filter(([, r]) => r !== 'other').sort();
      assert.deepEqual(named(options.roles), named(guessRoles(infos)));
    });
  }
});
