import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { closeAll, openAndRender, renderMatching } from '../support';
import { assertExact, copyFlushed, writeLargeNpy } from './largeFile.test';

/**
 * Only when asked for (NORMLENS_TEST_PERF=2,3: worker counts to alternate; NORMLENS_TEST_PERF_ROUNDS):
 * opens copies of the 256 MiB dump one after another (three per worker count and round), checks each
 * ends in the exact report, and prints the times to the preview and to the exact first chart, for
 * comparing builds and settings on medians rather than on one run.
 */
(process.env.NORMLENS_TEST_PERF ? describe : describe.skip)('Opening 256 MiB dumps one after another (NORMLENS_TEST_PERF)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'normlens-perf-'));
  const file = join(dir, 'activations-256mib.npy');
  const settings = () => vscode.workspace.getConfiguration('normlens');
  before(function () {
    this.timeout(120000);
    writeLargeNpy(file);
  });
  after(async () => {
    await settings().update('workers', undefined, vscode.ConfigurationTarget.Global);
    await closeAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives the exact report every time (times printed)', async function () {
    this.timeout(1800000);
    const counts = (process.env.NORMLENS_TEST_PERF ?? '').split(',').map(Number).filter((n) => Number.isInteger(n) && n >= 0);
    const rounds = Number(process.env.NORMLENS_TEST_PERF_ROUNDS ?? 4);
    const ext = vscode.extensions.getExtension('normlens.normlens')!;
    const wasActive = ext.isActive;
    const activating = Date.now();
    if (process.env.NORMLENS_TEST_PERF_ACTIVATE) await ext.activate();
    console.log(`[normlens-test] extension ${wasActive ? 'was already active' : process.env.NORMLENS_TEST_PERF_ACTIVATE ? `activated in ${Date.now() - activating} ms` : 'not active yet (the first open activates it)'}`);
    const times = new Map<number, number[]>();
    let copy = 0;
    for (let round = 0; round < rounds; round++) {
      for (const workers of counts) {
        await settings().update('workers', workers, vscode.ConfigurationTarget.Global);
        for (let k = 0; k < 3; k++) {
          await closeAll();
          await new Promise((r) => setTimeout(r, 1500));
          // A new copy each time: not the cached report of the previous one.
          const path = join(dir, `copy-${copy++}.npy`);
          copyFlushed(file, path);
          const started = Date.now();
          const first = await openAndRender(vscode.Uri.file(path));
          const exact = first.preview ? await renderMatching('inspector', 'the exact report', (s) => !s.preview && s.view === 'overview', 120000) : first;
          assertExact(exact);
          const at = (name: string) => (exact.marks ?? []).filter((m) => m.name === name || m.name.startsWith(`${name} `)).map((m) => Math.round(m.at - started));
          const drawn = at('webview:drawn:overview');
          const ms = drawn[drawn.length - 1]!;
          if (process.env.NORMLENS_TEST_PERF_MARKS) console.log(`[normlens-test]   marks: ${(exact.marks ?? []).map((m) => `${m.name} +${Math.round(m.at - started)}`).join(', ')}`);
          if (round > 0 || k > 0) times.set(workers, [...(times.get(workers) ?? []), ms]);
          console.log(`[normlens-test] workers=${workers} round ${round} #${k}: preview ${first.preview ? `${drawn[0]} ms` : 'n/a'}, exact ${ms} ms, page script ${at('webview:script')[0] ?? '?'} ms, planned ${at('host:planned')[0] ?? '?'}, preview on host ${at('host:preview-computed')[0] ?? '–'}, pass 1 done ${at('host:pass1-done')[0] ?? '?'}, pass 2 done ${at('host:pass2-done')[0] ?? '?'} ms`);
          rmSync(path);
        }
      }
    }
    for (const [workers, list] of times) {
      const sorted = [...list].sort((a, b) => a - b);
      console.log(`[normlens-test] workers=${workers}: exact first chart median ${sorted[Math.floor(sorted.length / 2)]} ms over ${sorted.length} opens (${sorted.join(', ')})`);
    }
  });
});
