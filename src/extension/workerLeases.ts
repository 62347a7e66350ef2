import * as vscode from 'vscode';
import type { OpenDumpOptions } from '../core/formats/options';
import { WorkerPool } from '../worker/workerRunner';
import { log } from './log';

/** An idle pool keeps its threads this long (then they stop; the next analysis starts new ones). */
const IDLE_MS = 90_000;

interface Entry {
  readonly key: string;
  readonly pool: WorkerPool;
  users: number;
  idle: ReturnType<typeof setTimeout> | undefined;
}

/**
 * The extension's analysis workers, kept running between analyses: a second dump (or a re-run with
 * other options) starts at once on threads whose code is already compiled and optimized, instead of
 * paying for new threads and cold code each time. One pool per worker count and open options;
 * while no analysis uses it, its workers close the dumps they read (no file stays open), and after
 * IDLE_MS it stops.
 */
export class WorkerLeases implements vscode.Disposable {
  private readonly pools = new Map<string, Entry>();

  constructor(private readonly script: string) {}

  /** A running pool of `workers` threads opening dumps with `open`; call `release` when the run is over. */
  acquire(workers: number, open: OpenDumpOptions): { pool: WorkerPool; release(): void } {
    const key = JSON.stringify([workers, open]);
    let entry = this.pools.get(key);
    if (entry && entry.pool.failed) {
      // A worker died (out of memory, killed): start again.
      this.stop(entry);
      entry = undefined;
    }
    if (!entry) {
      entry = { key, pool: new WorkerPool(workers, this.script, open), users: 0, idle: undefined };
      this.pools.set(key, entry);
    }
    const held = entry;
    if (held.idle) clearTimeout(held.idle);
    held.idle = undefined;
    held.users++;
    let released = false;
    return {
      pool: held.pool,
      release: () => {
        if (released) return;
        released = true;
        held.users--;
        if (held.users > 0 || this.pools.get(key) !== held) return;
        void held.pool.closeDumps();
        held.idle = setTimeout(() => {
          if (held.users === 0) this.stop(held);
        }, IDLE_MS);
      },
    };
  }

  private stop(entry: Entry): void {
    if (entry.idle) clearTimeout(entry.idle);
    if (this.pools.get(entry.key) === entry) this.pools.delete(entry.key);
    void entry.pool.dispose().catch((e: Error) => log().debug(`stopping analysis workers: ${e.message}`));
  }

  dispose(): void {
    for (const entry of [...this.pools.values()]) this.stop(entry);
  }
}
