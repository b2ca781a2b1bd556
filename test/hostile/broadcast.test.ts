import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, startServer, TOK, until } from '../unit/broadcast/feed-helpers.js';

/**
 * Hostile WebSocket clients against the broadcast server (issue 12 item 1 and issue 9's "a client
 * that floods messages or never reads is cut off; the server's memory stays bounded").
 */
type Server = Awaited<ReturnType<typeof startServer>>;
let s: Server | undefined;
afterEach(async () => {
  await s?.stop();
  s = undefined;
});

/** Stops reading the socket (what a client that never reads does), keeps writing. */
const stopReading = (ws: { _socket?: Socket }): void => void ws._socket!.pause();

async function flood(send: () => void, stop: () => boolean, ms = 20_000): Promise<number> {
  const t0 = Date.now();
  let sent = 0;
  while (!stop() && Date.now() - t0 < ms) {
    for (let i = 0; i < 500; i++) {
      send();
      sent++;
    }
    await new Promise((r) => setImmediate(r));
  }
  return sent;
}

describe('hostile WebSocket clients', () => {
  it('a client sending protocol pings in a loop and never reading is cut off (pongs count against maxBufferedBytes)', async () => {
    // The rate limit is out of the way here: the buffered-bytes check alone must stop it.
    s = await startServer({ maxBufferedBytes: 256 * 1024, maxMessagesPerSecond: 1e9 });
    const c = await connect(`${s.ws}?token=${TOK.viewer}`);
    const bystander = await connect(`${s.ws}?token=${TOK.viewer}`);
    await until(() => s!.server.clients === 2);
    stopReading(c.ws as unknown as { _socket?: Socket });
    const payload = Buffer.alloc(125, 1);
    const sent = await flood(() => c.ws.ping(payload), () => s!.server.clients < 2);
    expect(s.server.clients, `still connected after ${sent} pings`).toBe(1);
    // The server is up and the other client still gets events.
    const { matchEvent } = await import('../unit/store/fixtures.js');
    await s.bus.publish('matches', matchEvent('after-flood'));
    await until(() => bystander.messages.some((m) => m['id'] === 'after-flood'));
    bystander.ws.close();
    c.ws.terminate();
  });

  it('a client sending "ping" text messages in a loop and never reading is cut off', async () => {
    s = await startServer({ maxBufferedBytes: 256 * 1024, maxMessagesPerSecond: 1e9 });
    const c = await connect(`${s.ws}?token=${TOK.viewer}`);
    await until(() => s!.server.clients === 1);
    stopReading(c.ws as unknown as { _socket?: Socket });
    const sent = await flood(() => c.ws.send('ping'), () => s!.server.clients < 1);
    expect(s.server.clients, `still connected after ${sent} pings`).toBe(0);
    c.ws.terminate();
  });

  it('a client that sends faster than maxMessagesPerSecond is closed with 1008', async () => {
    s = await startServer({ maxMessagesPerSecond: 20 });
    const c = await connect(`${s.ws}?token=${TOK.viewer}`);
    for (let i = 0; i < 200; i++) c.ws.send(JSON.stringify({ type: 'ping' }));
    const { code, reason } = await c.closed;
    expect([code, reason]).toEqual([1008, 'too many messages']);
  });

  it('an oversized message closes only that client (1009)', async () => {
    s = await startServer({ maxPayloadBytes: 1024 });
    const bad = await connect(`${s.ws}?token=${TOK.viewer}`);
    bad.ws.send('x'.repeat(4096));
    expect((await bad.closed).code).toBe(1009);
    const good = await connect(`${s.ws}?token=${TOK.viewer}`);
    await until(() => good.messages.length > 0);
    good.ws.close();
  });

  it('a client that never reads live events is cut off once it is maxBufferedBytes behind', async () => {
    s = await startServer({ maxBufferedBytes: 64 * 1024 });
    const c = await connect(`${s.ws}?token=${TOK.viewer}`);
    stopReading(c.ws as unknown as { _socket?: Socket });
    const { matchEvent } = await import('../unit/store/fixtures.js');
    const big = Buffer.alloc(32 * 1024, 7).toString('base64');
    for (let i = 0; i < 2000 && s.server.clients > 0; i++) await s.bus.publish('matches', matchEvent(`slow${i}`, { crop: big }));
    await until(() => s!.server.clients === 0, 10_000, 'slow client cut off');
    c.ws.terminate();
  });
});
