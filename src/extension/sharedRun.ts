import * as vscode from 'vscode';
import { NormLensError } from '../core/errors';

/** A run several callers may wait on (an analysis, a sweep); cancelled only when all of them have. */
export interface SharedRun<T> {
  result: Promise<T>;
  /** Cancels the run; fired only when every caller waiting on it has cancelled. */
  cancel: vscode.CancellationTokenSource;
  /** Callers still waiting on an unfinished run. */
  waiting: number;
  settled: boolean;
}

/**
 * Waits on a shared run as one caller with its own cancellation. `listeners` is the run's set of
 * callers (progress); `forget` drops the run from its cache when the last caller cancels, so nobody
 * is handed a cancelled result. `what` names the run in the cancellation error.
 */
export function joinSharedRun<T, C extends { readonly token?: vscode.CancellationToken }>(run: SharedRun<T>, listeners: Set<C>, control: C, what: string, forget: () => void): Promise<T> {
  if (run.settled) return run.result;
  run.waiting++;
  listeners.add(control);
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const leave = (): boolean => {
      if (done) return false;
      done = true;
      sub?.dispose();
      listeners.delete(control);
      run.waiting--;
      return true;
    };
    const sub = control.token?.onCancellationRequested(() => {
      if (!leave()) return;
      reject(new NormLensError('cancelled', `the ${what} was cancelled.`));
      // The last caller gone: stop the run and drop it so nobody gets a cancelled result.
      if (run.waiting === 0 && !run.settled) {
        forget();
        run.cancel.cancel();
      }
    });
    run.result.then(
      (r) => leave() && resolve(r),
      (e) => leave() && reject(e),
    );
  });
}
