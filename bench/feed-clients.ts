import { WebSocket } from 'ws';

/**
 * The client side of `vigil bench feed`, in its own process (so parsing 200 clients' messages does not
 * share the server's event loop): opens N WebSocket clients, and for each match event received records
 * now - the publish time the bench put in `mediaTime` (ms since the epoch, sub-ms precision).
 * Driven over IPC: {op:'open', url, n} -> {op:'opened'}; {op:'report'} -> {op:'latencies', ms:[...]}; {op:'catchup', url, count} -> {op:'caught', ms}.
 */
type Cmd = { op: 'open'; url: string; n: number } | { op: 'report' } | { op: 'catchup'; url: string; count: number } | { op: 'close' };

const now = (): number => performance.timeOrigin + performance.now();
const MEDIA_TIME = Buffer.from('"mediaTime":');
let clients: WebSocket[] = [];
let latencies: number[] = [];

const send = (m: unknown): void => void process.send!(m);

process.on('message', (raw) => {
  const cmd = raw as Cmd;
  if (cmd.op === 'open') {
    let open = 0;
    for (let i = 0; i < cmd.n; i++) {
      // 200 simulated consoles share one process (and one core): each message's time is taken on
      // arrival and read from its text without a full JSON.parse, so this process measures delivery
      // rather than queueing behind 200 consoles' worth of parsing.
      const ws = new WebSocket(cmd.url, { skipUTF8Validation: true });
      ws.on('message', (d: Buffer) => {
        const t = now();
        const i = d.indexOf(MEDIA_TIME);
        if (i < 0) return;
        const v = Number.parseFloat(d.toString('latin1', i + MEDIA_TIME.length, i + MEDIA_TIME.length + 24));
        if (Number.isFinite(v)) latencies.push(t - v);
      });
      ws.once('open', () => {
        if (++open === cmd.n) send({ op: 'opened' });
      });
      ws.on('error', (err) => send({ op: 'error', message: err.message }));
      clients.push(ws);
    }
  } else if (cmd.op === 'report') {
    const cpu = process.cpuUsage();
    send({ op: 'latencies', ms: latencies, cpuMs: (cpu.user + cpu.system) / 1000 });
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
