import type * as vscode from 'vscode';

/** Disposes every item, ignoring none: used by owners of many listeners. */
export function disposeAll(items: vscode.Disposable[]): void {
  while (items.length) items.pop()?.dispose();
}

/** Base class for objects that own disposables (listeners, watchers, panels, workers). */
export abstract class Disposable implements vscode.Disposable {
  private readonly owned: vscode.Disposable[] = [];
  private disposed = false;

  /** Takes ownership of `d`; disposes it at once if this object is already disposed. */
  protected register<T extends vscode.Disposable>(d: T): T {
    if (this.disposed) d.dispose();
    else this.owned.push(d);
    return d;
  }

  /** True once `dispose` ran. */
  protected get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    disposeAll(this.owned);
  }
}
