import { strict as assert } from 'node:assert';
import { RpcClient, RpcError, RpcServer, type RpcClientMessage, type RpcServerMessage } from '../../../src/rpc';

type Methods = {
  add: { params: { a: number; b: number }; result: number };
  echo: { params: string; result: string };
  fail: { params: null; result: never };
  slow: { params: number; result: string; progress: number };
};

/** A client and a server joined by asynchronous "ports" (like postMessage), with every message logged. */
function pair(handlers?: Partial<ConstructorParameters<typeof RpcServer<Methods>>[1]>) {
  const toServer: RpcClientMessage<Methods>[] = [];
  const toClient: RpcServerMessage[] = [];
  const ends: { client?: RpcClient<Methods> } = {};
  let release: (() => void) | undefined;
  const slowStarted = new Promise<void>((r) => (release = r));
  const server = new RpcServer<Methods>(
    (m) => {
      toClient.push(m);
      setTimeout(() => ends.client?.handle(m), 0);
    },
    {
      add: ({ a, b }) => a + b,
      echo: async (s) => s,
      fail: () => {
        throw Object.assign(new Error('no such tensor'), { kind: 'usage' });
      },
      slow: (n, ctx) =>
        new Promise<string>((resolve, reject) => {
          for (let i = 1; i <= n; i++) ctx.progress(i);
          release?.();
          ctx.signal.addEventListener('abort', () => reject(new Error('stopped')));
          setTimeout(() => resolve('done'), 50);
        }),
      ...handlers,
    },
    (e) => ({ message: (e as Error).message, ...((e as { kind?: string }).kind ? { kind: (e as { kind: string }).kind } : {}) }),
  );
  const client = new RpcClient<Methods>((m) => {
    toServer.push(m);
    setTimeout(() => server.handle(m), 0);
  });
  ends.client = client;
  return { client, server, toServer, toClient, slowStarted };
}

describe('rpc: typed request/reply', () => {
  it('answers typed requests, each with its own id, in any order', async () => {
    const { client, toServer } = pair();
    const [sum, text] = await Promise.all([client.request('add', { a: 2, b: 3 }), client.request('echo', 'hi')]);
    const typed: number = sum;
    assert.equal(typed, 5);
    assert.equal(text, 'hi');
    assert.deepEqual(
      toServer.map((m) => [m.type, m.id]),
      [
        ['request', 1],
        ['request', 2],
      ],
    );
    assert.equal(client.pendingCount, 0);
  });

  it('rejects with the handler’s message and error kind', async () => {
    const { client } = pair();
    await assert.rejects(client.request('fail', null), (e) => e instanceof RpcError && e.message === 'no such tensor' && e.kind === 'usage');
  });

  it('reports progress of a request to its caller', async () => {
    const { client } = pair();
    const seen: number[] = [];
    assert.equal(await client.request('slow', 3, { onProgress: (p) => seen.push(p) }), 'done');
    assert.deepEqual(seen, [1, 2, 3]);
  });

  it('cancellation rejects at once, tells the server, aborts the handler and drops its late reply', async () => {
    const { client, toServer, toClient, slowStarted } = pair();
    const abort = new AbortController();
    const pending = client.request('slow', 1, { signal: abort.signal });
    await slowStarted;
    abort.abort();
    await assert.rejects(pending, (e) => e instanceof RpcError && e.kind === 'cancelled');
    await new Promise((r) => setTimeout(r, 80));
    assert.ok(toServer.some((m) => m.type === 'cancelRequest' && m.id === 1));
    assert.ok(!toClient.some((m) => m.type === 'reply'), 'an aborted handler sends no reply');
    // An already aborted signal never sends the request.
    await assert.rejects(client.request('echo', 'x', { signal: abort.signal }), /cancelled/);
    assert.equal(toServer.filter((m) => m.type === 'request').length, 1);
  });

  it('unknown methods get an error reply; replies to unknown ids and foreign messages are ignored', async () => {
    const { client, server } = pair();
    const posted: RpcServerMessage[] = [];
    const lone = new RpcServer<Methods>((m) => posted.push(m), { add: () => 0, echo: (s) => s, fail: () => 0 as never, slow: async () => '' });
    assert.equal(lone.handle({ type: 'request', id: 7, method: 'nope', params: null }), true);
    assert.equal(lone.handle({ type: 'request', id: 8, method: 'toString', params: null }), true);
    await new Promise((r) => setTimeout(r, 0));
    assert.deepEqual(posted[0], { type: 'reply', id: 7, ok: false, error: 'unknown request "nope"', kind: 'usage' });
    assert.equal((posted[1] as { ok: boolean }).ok, false, 'inherited properties are not methods');
    assert.equal(client.handle({ type: 'reply', id: 999, ok: true, value: 1 }), true);
    assert.equal(client.handle({ type: 'report', report: {} }), false);
    assert.equal(client.handle(null), false);
    assert.equal(server.handle({ type: 'ready' }), false);
    assert.equal(await client.request('add', { a: 1, b: 1 }), 2, 'still works afterwards');
  });

  it('rejectAll fails every pending request (the other side is gone)', async () => {
    const client = new RpcClient<Methods>(() => undefined);
    const a = client.request('echo', 'a');
    const b = client.request('add', { a: 1, b: 2 });
    client.rejectAll(new Error('worker exited'));
    await assert.rejects(a, /worker exited/);
    await assert.rejects(b, /worker exited/);
  });

  it('a post that throws rejects the request', async () => {
    const client = new RpcClient<Methods>(() => {
      throw new Error('port closed');
    });
    await assert.rejects(client.request('echo', 'a'), /port closed/);
    assert.equal(client.pendingCount, 0);
  });

  it('moves the buffers a handler lists as transfer with its reply', async () => {
    const transfers: (ArrayBuffer[] | undefined)[] = [];
    const buffer = new ArrayBuffer(8);
    const server = new RpcServer<{ buf: { params: null; result: ArrayBuffer } }>((_m, t) => transfers.push(t), {
      buf: (_p, ctx) => {
        ctx.transfer.push(buffer);
        return buffer;
      },
    });
    server.handle({ type: 'request', id: 1, method: 'buf', params: null });
    await new Promise((r) => setTimeout(r, 0));
    assert.deepEqual(transfers, [[buffer]]);
  });
});
