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

async function flood(send: () => void, stop: () => boolean, ms = 40_000, batch = 500): Promise<number> {
  const t0 = Date.now();
  let sent = 0;
  while (!stop() && Date.now() - t0 < ms) {
    for (let i = 0; i < batch; i++) {
      send();
      sent++;
    }
    await new Promise((r) => setImmediate(r));
  }
  return sent;
}

/**
 * "ping" text messages written straight to the socket, 10,000 frames at a time (client frames with a
 * zero mask), so the flood is as fast as a hostile client's and the tests short. Returns pings sent.
 */
async function textPingFlood(ws: unknown, stop: () => boolean, ms: number): Promise<number> {
  const frame = Buffer.from([0x81, 0x84, 0, 0, 0, 0, ...Buffer.from('ping')]);
  const burst = Buffer.concat(Array.from({ length: 10_000 }, () => frame));
  const socket = (ws as { _socket: Socket })._socket;
  return 10_000 * (await flood(() => socket.write(burst), stop, ms, 1));
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
  }, 90_000);

  it('a client sending "ping" text messages in a loop and never reading is cut off', async () => {
    s = await startServer({ maxBufferedBytes: 256 * 1024, maxMessagesPerSecond: 1e9 });
    const c = await connect(`${s.ws}?token=${TOK.viewer}`);
    await until(() => s!.server.clients === 1);
    stopReading(c.ws as unknown as { _socket?: Socket });
    const sent = await textPingFlood(c.ws, () => s!.server.clients < 1, 40_000);
    expect(s.server.clients, `still connected after ${sent} pings`).toBe(0);
    c.ws.terminate();
  }, 90_000);

  it('tiny replies are capped by count as well as bytes: a ping flood is cut off long before its pongs fill maxBufferedBytes', async () => {
    // 64 MiB of 23-byte pongs would be ~3 million queued writes (about 1 GB of memory); the cap on
    // queued messages cuts the client off after a few thousand.
    s = await startServer({ maxBufferedBytes: 64 * 1024 * 1024, maxMessagesPerSecond: 1e9 });
    const c = await connect(`${s.ws}?token=${TOK.viewer}`);
    await until(() => s!.server.clients === 1);
    stopReading(c.ws as unknown as { _socket?: Socket });
    const rss0 = process.memoryUsage().rss;
    const sent = await textPingFlood(c.ws, () => s!.server.clients < 1, 30_000);
    expect(s.server.clients, `still connected after ${sent} pings`).toBe(0);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(300 * 1024 * 1024);
    c.ws.terminate();
  }, 90_000);

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
