import { WebSocket } from 'ws';

/**
 * The client side of `vigil bench feed`, in its own process (so parsing 200 clients' messages does not
 * share the server's event loop): opens N WebSocket clients, and for each match event received records
 * now - the publish time the bench put in `mediaTime` (ms since the epoch, sub-ms precision).
 * Driven over IPC: {op:'open', url, n} -> {op:'opened'}; {op:'report'} -> {op:'latencies', ms:[...]}; {op:'catchup', url, count} -> {op:'caught', ms}.
 */
type Cmd = { op: 'open'; url: string; n: number } | { op: 'report' } | { op: 'catchup'; url: string; count: number } | { op: 'close' };

const now = (): number => performance.timeOrigin + performance.now();
let clients: WebSocket[] = [];
let latencies: number[] = [];

const send = (m: unknown): void => void process.send!(m);

process.on('message', (raw) => {
  const cmd = raw as Cmd;
  if (cmd.op === 'open') {
    let open = 0;
    for (let i = 0; i < cmd.n; i++) {
      const ws = new WebSocket(cmd.url);
      ws.on('message', (d) => {
        const t = now();
        const e = JSON.parse(d.toString()) as { kind: string; mediaTime?: number };
        if (e.kind === 'match' && typeof e.mediaTime === 'number') latencies.push(t - e.mediaTime);
      });
      ws.once('open', () => {
        if (++open === cmd.n) send({ op: 'opened' });
      });
      ws.on('error', (err) => send({ op: 'error', message: err.message }));
      clients.push(ws);
    }
  } else if (cmd.op === 'report') {
    send({ op: 'latencies', ms: latencies });
    latencies = [];
  } else if (cmd.op === 'catchup') {
    const t0 = now();
    let got = 0;
    const ws = new WebSocket(cmd.url);
    ws.on('message', (d) => {
      const e = JSON.parse(d.toString()) as { kind: string };
      if (e.kind === 'match' && ++got === cmd.count) {
        send({ op: 'caught', ms: now() - t0 });
        ws.close();
      }
    });
  } else if (cmd.op === 'close') {
    for (const c of clients) c.terminate();
    clients = [];
    send({ op: 'closed' });
  }
});
