import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import { createKafkaClient, type InMessage, type KafkaClient } from '../src/bus/kafka-client.js';
import { createLogger } from '../src/log.js';
import { repoRoot, tempDir } from './helpers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Folder of this test run's shared broker (kafka-setup.ts), started by the first test that needs it. */
    kafkaRunDir: string;
    /** The vitest main process: a broker started for the run stops when it ends. */
    vitestPid: number;
  }
}

const quiet = createLogger('silent');

import { freePort } from './support/net.js';

export { freePort };

/** Resolves once the brokers answer a metadata request. */
export async function waitForBroker(brokers: string, timeoutMs = 60_000, proc?: ChildProcess): Promise<void> {
  const t0 = Date.now();
  let last: unknown;
  while (Date.now() - t0 < timeoutMs) {
    if (proc && proc.exitCode !== null) throw new Error(`the broker exited with code ${proc.exitCode}`);
    const c = createKafkaClient({ brokers: brokers.split(','), clientId: 'vigil-test', log: quiet });
    try {
      await c.ensureTopics([]);
      return;
    } catch (err) {
      last = err;
    } finally {
      await c.close();
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`Kafka at ${brokers} did not answer within ${timeoutMs} ms: ${(last as Error | undefined)?.message}`);
}

/**
 * A one-node KRaft broker run by scripts/kafka.sh (jars from Maven Central, cached). The same
 * folder keeps its data across stop() and start(), as a restarted production broker would.
 */
/** A SASL_SSL listener next to the plaintext one: TLS from a throwaway CA (DIR/tls), one SCRAM user. */
export interface SaslSslOptions {
  readonly user: string;
  readonly password: string;
  readonly clientAuth?: 'none' | 'requested' | 'required';
}

export class LocalBroker {
  readonly dir: string;
  readonly port: number;
  readonly controllerPort: number;
  /** The SASL_SSL listener's port (0: none). */
  readonly saslSslPort: number;
  readonly #watchPid: number;
  readonly #detached: boolean;
  readonly #saslSsl: SaslSslOptions | undefined;
  #proc: ChildProcess | undefined;

  private constructor(dir: string, ports: readonly [number, number, number], watchPid: number, detached: boolean, saslSsl: SaslSslOptions | undefined) {
    this.dir = dir;
    [this.port, this.controllerPort, this.saslSslPort] = ports;
    this.#watchPid = watchPid;
    this.#detached = detached;
    this.#saslSsl = saslSsl;
  }

  get brokers(): string {
    return `127.0.0.1:${this.port}`;
  }

  get saslSslBrokers(): string {
    return `127.0.0.1:${this.saslSslPort}`;
  }

  /** ca.pem, client.pem and client.key of the SASL_SSL listener's CA. */
  get tlsDir(): string {
    return join(this.dir, 'tls');
  }

  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** `watchPid`: the broker stops by itself when that process ends (default: this one). */
  static async create(o: { dir?: string; watchPid?: number; detached?: boolean; saslSsl?: SaslSslOptions } = {}): Promise<LocalBroker> {
    const dir = o.dir ?? (await tempDir('vigil-kafka-'));
    const ports = [await freePort(), await freePort(), o.saslSsl ? await freePort() : 0] as const;
    const b = new LocalBroker(dir, ports, o.watchPid ?? process.pid, o.detached ?? false, o.saslSsl);
    if (o.saslSsl) await promisify(execFile)('bash', [join(repoRoot, 'scripts', 'kafka.sh'), 'tls', '--dir', b.tlsDir]);
    await b.start();
    return b;
  }

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const out = openSync(join(this.dir, 'broker.log'), 'a');
    const args = [join(repoRoot, 'scripts', 'kafka.sh'), 'start', '--dir', this.dir, '--port', String(this.port), '--controller-port', String(this.controllerPort), '--watch-pid', String(this.#watchPid)];
    const s = this.#saslSsl;
    if (s) args.push('--sasl-ssl-port', String(this.saslSslPort), '--tls-dir', this.tlsDir, '--client-auth', s.clientAuth ?? 'none');
    // The SCRAM password reaches the script through its environment, never its command line.
    const env = s ? { ...process.env, KAFKA_SCRAM_USER: s.user, KAFKA_SCRAM_PASSWORD: s.password } : process.env;
    const p = spawn('bash', args, { stdio: ['ignore', out, out], detached: this.#detached, env });
    closeSync(out);
    if (this.#detached) p.unref();
    this.#proc = p;
    try {
      await waitForBroker(this.brokers, 180_000, p); // the first run also fetches the jars
    } catch (err) {
      const log = await readFile(join(this.dir, 'broker.log'), 'utf8').catch(() => '');
      throw new Error(`${(err as Error).message}\n--- broker log (tail) ---\n${log.slice(-3000)}`);
    }
  }

  /** Stops the broker (SIGTERM: a clean shutdown; SIGKILL after 20 s). */
  async stop(): Promise<void> {
    const p = this.#proc;
    this.#proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(t);
  }
}

interface SharedState {
  readonly brokers: string;
  readonly pid: number;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * The test run's broker, as a bootstrap string: KAFKA_BROKERS when set (an existing cluster),
 * otherwise one local broker for the whole run, started by the first test file that asks (a lock
 * folder serialises the workers) and stopped by kafka-setup.ts's teardown.
 */
export async function sharedBrokers(): Promise<string> {
  if (process.env.KAFKA_BROKERS) return process.env.KAFKA_BROKERS;
  const runDir = inject('kafkaRunDir');
  const lock = join(runDir, 'lock');
  const stateFile = join(runDir, 'broker.json');
  const t0 = Date.now();
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch {
      if (Date.now() - t0 > 240_000) throw new Error(`waited 4 min for ${lock}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    if (existsSync(stateFile)) {
      const s = JSON.parse(await readFile(stateFile, 'utf8')) as SharedState;
      if (alive(s.pid)) {
        await waitForBroker(s.brokers, 30_000);
        return s.brokers;
      }
    }
    const b = await LocalBroker.create({ dir: join(runDir, 'broker'), watchPid: inject('vitestPid'), detached: true });
    const state: SharedState = { brokers: b.brokers, pid: b.pid! };
    await writeFile(stateFile, JSON.stringify(state));
    return b.brokers;
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** Stops the run's shared broker, if one was started (kafka-setup.ts's teardown). */
export async function stopSharedBroker(runDir: string): Promise<void> {
  const stateFile = join(runDir, 'broker.json');
  if (!existsSync(stateFile)) return;
  const { pid } = JSON.parse(await readFile(stateFile, 'utf8')) as SharedState;
  if (alive(pid)) {
    process.kill(pid, 'SIGTERM');
    const t0 = Date.now();
    while (alive(pid) && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 100));
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
}

/** A topic prefix no other test uses on the shared broker. */
export const uniquePrefix = (name: string): string => `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}.${name}.`;

/** Reads `topic` from its start until at least `atLeast` records came (then 500 ms more, to see any extra ones). */
export async function readRecords(client: KafkaClient, topic: string, atLeast: number, groupPrefix: string, timeoutMs = 30_000): Promise<InMessage[]> {
  const got: InMessage[] = [];
  const c = client.consumer({ groupId: `${groupPrefix}reader-${Date.now()}-${Math.random()}`, topic, fromBeginning: true, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000, maxBytesPerPartition: 16 << 20 });
  await c.start({
    onBatch: async (b, ctl) => {
      got.push(...b.messages);
      ctl.resolve(b.messages[b.messages.length - 1]!.offset);
    },
    onAssigned: () => {},
    onFatal: () => {},
  });
  try {
    const t0 = Date.now();
    while (got.length < atLeast) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${atLeast} record(s) on ${topic} (got ${got.length})`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    await c.stop();
  }
  return got;
}
