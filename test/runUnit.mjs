#!/usr/bin/env node
// Runs the unit tests (test/unit/**/*.test.ts, TypeScript through tsx) with mocha's spec reporter,
// prints a plain "unit: N passed, M failed" line, and leaves the counts in test-output/ for the
// integration runner's grand total. Run as: node --import tsx test/runUnit.mjs
import Mocha from 'mocha';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Every *.test.ts below `dir`, sorted. */
function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : []))
    .sort();
}

const mocha = new Mocha({ timeout: 60000, reporter: 'spec' });
for (const f of testFiles(join(root, 'test', 'unit'))) mocha.addFile(f);
await mocha.loadFilesAsync();
let passed = 0;
const failed = await new Promise((done) => {
  const runner = mocha.run(done);
  runner.on('pass', () => passed++);
});
mkdirSync(join(root, 'test-output'), { recursive: true });
writeFileSync(join(root, 'test-output', 'unit-summary.json'), JSON.stringify({ passed, failed }));
console.log(`unit: ${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
