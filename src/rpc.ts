/**
 * One typed request/reply channel, used between the extension host and its webviews and between
 * the host and its analysis workers (like hexeditor's `MessageHandler`). Pure: no `vscode`, DOM or
 * `node:*` imports, so the webview bundles, the host and the worker all use this one module.
 *
 * A side that asks holds an `RpcClient`, the side that answers an `RpcServer`; both are given a
 * `post` function and are fed every incoming message (`handle` returns false for messages that are
 * not theirs, so other message types keep flowing through the same port).
 *
 * Methods are described by one map type, e.g.
 * `{ heatmap: { params: HeatmapRequest; result: Heatmap }; pass1: { params: ...; result: ...; progress: number } }`:
 * requests, results and progress are typed per method on both sides.
 */

/** What a method takes, returns and (optionally) reports while it runs. */
export interface RpcMethod {
  params: unknown;
  result: unknown;
  progress?: unknown;
}

/** A map from method name to its types. */
export type RpcMethods = { [name: string]: RpcMethod };

/** Progress type of a method (never when it reports none). */
type ProgressOf<M extends RpcMethod> = M extends { progress: infer P } ? P : never;

/** Asks the other side to run `method` with `params`; answered by an `RpcReplyMessage` with the same id. */
export type RpcRequestMessage<M extends RpcMethods> = {
  [K in keyof M & string]: { type: 'request'; id: number; method: K; params: M[K]['params'] };
}[keyof M & string];

/** Progress of a running request (only methods that declare `progress` send it). */
export interface RpcProgressMessage {
  type: 'requestProgress';
  id: number;
  progress: unknown;
}

/** The outcome of a request: its result, or an error with a message (and the NormLens error kind, if any). */
export type RpcReplyMessage =
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: string; kind?: string };

/** The asking side gave up on a request (the answering side stops it if it can). */
export interface RpcCancelMessage {
  type: 'cancelRequest';
  id: number;
}

/** Every message the asking side sends. */
export type RpcClientMessage<M extends RpcMethods> = RpcRequestMessage<M> | RpcCancelMessage;
/** Every message the answering side sends. */
export type RpcServerMessage = RpcReplyMessage | RpcProgressMessage;

/** A failed request, as the asking side sees it; `kind` carries a NormLens error kind across threads. */
export class RpcError extends Error {
  constructor(
    message: string,
    readonly kind?: string,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

/** Options of one request. */
export interface RpcCallOptions<P> {
  /** Aborting rejects the request at once with a `cancelled` RpcError and tells the other side. */
  signal?: AbortSignal;
  /** Called for each progress message of the request. */
  onProgress?(progress: P): void;
  /** Buffers moved (not copied) with the request, where the port supports transfer lists. */
  transfer?: ArrayBuffer[];
}

/** Sends a message through a port (webview.postMessage, worker.postMessage, acquireVsCodeApi().postMessage). */
export type RpcPost<T> = (message: T, transfer?: ArrayBuffer[]) => void;

/** Whether `m` looks like one of the RPC messages (a plain object with a string type and numeric id). */
function isMessage(m: unknown): m is { type: string; id: number } {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string' && typeof (m as { id?: unknown }).id === 'number';
}

/** The asking side: sends typed requests and resolves them with the typed replies. */
export class RpcClient<M extends RpcMethods> {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; onProgress?: ((p: unknown) => void) | undefined }>();

  constructor(private readonly post: RpcPost<RpcClientMessage<M>>) {}

  /** Requests still waiting for a reply. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Asks for `method(params)`. */
  request<K extends keyof M & string>(method: K, params: M[K]['params'], options: RpcCallOptions<ProgressOf<M[K]>> = {}): Promise<M[K]['result']> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(new RpcError(`${method} was cancelled`, 'cancelled'));
    const id = this.nextId++;
    return new Promise<M[K]['result']>((resolve, reject) => {
      const onAbort = (): void => {
        if (!this.pending.delete(id)) return;
        this.post({ type: 'cancelRequest', id });
        reject(new RpcError(`${method} was cancelled`, 'cancelled'));
      };
      const done = (): void => signal?.removeEventListener('abort', onAbort);
      this.pending.set(id, {
        resolve: (v) => {
          done();
          resolve(v as M[K]['result']);
        },
        reject: (e) => {
          done();
          reject(e);
        },
        onProgress: options.onProgress as ((p: unknown) => void) | undefined,
      });
      signal?.addEventListener('abort', onAbort);
      try {
        this.post({ type: 'request', id, method, params } as RpcRequestMessage<M>, options.transfer);
      } catch (e) {
        this.pending.delete(id);
        done();
        reject(e instanceof Error ? e : new RpcError(String(e)));
      }
    });
  }

  /**
   * Feeds an incoming message. Returns true when it was a reply or progress of this client's
   * (replies to unknown ids, e.g. of cancelled requests, are dropped and also return true).
   */
  handle(message: unknown): boolean {
    if (!isMessage(message)) return false;
    if (message.type === 'requestProgress') {
      this.pending.get(message.id)?.onProgress?.((message as RpcProgressMessage).progress);
      return true;
    }
    if (message.type !== 'reply') return false;
    const reply = message as RpcReplyMessage;
    const p = this.pending.get(reply.id);
    if (!p) return true;
    this.pending.delete(reply.id);
    if (reply.ok) p.resolve(reply.value);
    else p.reject(new RpcError(reply.error, reply.kind));
    return true;
  }

  /** Rejects every pending request (the other side is gone). */
  rejectAll(error: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(error);
  }
}

/** What a handler gets besides its params. */
export interface RpcHandlerContext<P> {
  /** Aborted when the asking side cancels the request. */
  readonly signal: AbortSignal;
  /** Sends a progress message for this request. */
  progress(value: P): void;
  /** Buffers to move (not copy) with the reply. */
  readonly transfer: ArrayBuffer[];
}

/** One handler per method. */
export type RpcHandlers<M extends RpcMethods> = {
  [K in keyof M & string]: (params: M[K]['params'], context: RpcHandlerContext<ProgressOf<M[K]>>) => M[K]['result'] | Promise<M[K]['result']>;
};

/** The answering side: runs the handler of each request and posts its reply. */
export class RpcServer<M extends RpcMethods> {
  private readonly running = new Map<number, AbortController>();

  /**
   * @param describeError turns a thrown value into the reply's message and kind (default: its message).
   */
  constructor(
    private readonly post: RpcPost<RpcServerMessage>,
    private readonly handlers: RpcHandlers<M>,
    private readonly describeError: (e: unknown, method: string) => { message: string; kind?: string } = (e) => ({ message: e instanceof Error ? e.message : String(e) }),
  ) {}

  /** Feeds an incoming message; returns true when it was a request or cancellation (handled here). */
  handle(message: unknown): boolean {
    if (!isMessage(message)) return false;
    if (message.type === 'cancelRequest') {
      this.running.get(message.id)?.abort();
      this.running.delete(message.id);
      return true;
    }
    if (message.type !== 'request') return false;
    void this.run(message as RpcRequestMessage<M>);
    return true;
  }

  private async run(request: { id: number; method: string; params: unknown }): Promise<void> {
    const { id, method } = request;
    const handler = Object.prototype.hasOwnProperty.call(this.handlers, method) ? (this.handlers as Record<string, RpcHandlers<M>[keyof M & string]>)[method] : undefined;
    if (!handler) {
      this.post({ type: 'reply', id, ok: false, error: `unknown request ${JSON.stringify(method)}`, kind: 'usage' });
      return;
    }
    const abort = new AbortController();
    this.running.set(id, abort);
    const transfer: ArrayBuffer[] = [];
    const context: RpcHandlerContext<never> = {
      signal: abort.signal,
      progress: (progress) => {
        if (!abort.signal.aborted) this.post({ type: 'requestProgress', id, progress });
      },
      transfer,
    };
    try {
      const value = await handler(request.params as never, context);
      // A cancelled request's result goes nowhere: the asking side has already forgotten it.
      if (!abort.signal.aborted) this.post({ type: 'reply', id, ok: true, value }, transfer.length ? transfer : undefined);
    } catch (e) {
      if (abort.signal.aborted) return;
      const { message, kind } = this.describeError(e, method);
      this.post(kind !== undefined ? { type: 'reply', id, ok: false, error: message, kind } : { type: 'reply', id, ok: false, error: message });
    } finally {
      this.running.delete(id);
    }
  }

  /** Aborts every running request (the port is closing). */
  abortAll(): void {
    for (const a of this.running.values()) a.abort();
    this.running.clear();
  }
}
