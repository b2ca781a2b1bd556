import type { Command } from 'commander';
import { benchFeed, formatFeedBench, type FeedBenchOptions } from '../feed.js';

/** `vigil bench feed`: the event store and the WebSocket feed under load (bench/feed.ts). */
export function register(bench: Command): void {
  bench
    .command('feed')
    .description('event store and WebSocket feed: events/s into the store, p50/p95 delivery latency to 1/50/200 clients, catch-up time of 10,000 stored events')
    .option('--clients <list>', 'client counts', (v) => v.split(',').map(Number), [1, 50, 200])
    .option('--rate <n>', 'events per second during the latency runs', (v) => Number(v), 100)
    .option('--seconds <n>', 'length of each latency run, s', (v) => Number(v), 10)
    .option('--store-events <n>', 'events appended for the store throughput', (v) => Number(v), 10_000)
    .option('--catchup <n>', 'stored events a resuming client catches up on', (v) => Number(v), 10_000)
    .option('--crop-bytes <n>', 'size of each event\'s base64 crop', (v) => Number(v), 6000)
    .option('--json', 'print the results as one JSON line on stdout')
    .action(async (a: { clients: number[]; rate: number; seconds: number; storeEvents: number; catchup: number; cropBytes: number; json?: boolean }) => {
      const o: FeedBenchOptions = { ...a, progress: (line) => void process.stderr.write(`  ${line}\n`) };
      const r = await benchFeed(o);
      process.stdout.write(a.json ? `${JSON.stringify(r)}\n` : `${formatFeedBench(r, o).join('\n')}\n`);
      process.exit(0);
    });
}
