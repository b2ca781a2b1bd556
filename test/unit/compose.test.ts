import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { register } from '../../src/cli/commands/services.js';
import { parseConfig } from '../../src/config/load.js';
import { repoRoot, tempDir } from '../helpers.js';

/**
 * Docker cannot run here, so docker-compose.yml and the Dockerfile are checked against the code
 * they start: commands and options the CLI has, environment names it reads, ports it listens on,
 * config files the schema accepts.
 */
interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string | number>;
  volumes?: string[];
  ports?: string[];
  profiles?: string[];
  depends_on?: Record<string, { condition: string }>;
  deploy?: { resources: { reservations: { devices: { capabilities: string[] }[] } } };
}

const read = (f: string): string => readFileSync(join(repoRoot, f), 'utf8');
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
/** A service the compose file must define. */
function service(name: string): Service {
  const s = compose.services[name];
  if (!s) throw new Error(`docker-compose.yml has no "${name}" service`);
  return s;
}
const vigilServices = Object.entries(compose.services).filter(([name]) => name !== 'kafka');
const cli = new Command('vigil').option('-c, --config <file>');
register(cli);
const src = (f: string): string => read(join('src', f));
const sources = ['config/load.ts', 'cli/main.ts', 'cli/commands/services.ts', 'log.ts'].map(src).join('\n');

/** The config file a service reads, parsed by the real schema (camera secrets from its environment). */
function configOf(s: Service): ReturnType<typeof parseConfig> {
  const env = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v).replace(/^\$\{(\w+):-([^}]*)\}$/, '$2') || 'x']));
  const file = String(env.VIGIL_CONFIG);
  const mount = s.volumes!.map((v) => v.split(':')).find(([, target]) => file.startsWith(`${target}/`));
  expect(mount, `a volume provides ${file}`).toBeDefined();
  const local = join(repoRoot, mount![0]!, file.slice(mount![1]!.length + 1));
  expect(existsSync(local), local).toBe(true);
  return parseConfig(parse(readFileSync(local, 'utf8')), env);
}

describe('docker-compose.yml', () => {
  it('runs Kafka (KRaft, the tests\' version) and one container per stage', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['kafka', 'ingest', 'infer', 'match', 'broadcast']));
    const kafka = service('kafka');
    const pomVersion = /<kafka.version>([^<]+)</.exec(read('scripts/kafka/pom.xml'))![1];
    expect(kafka.image).toBe(`apache/kafka:${pomVersion}`);
    expect(kafka.environment!.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    for (const stage of ['ingest', 'infer', 'match', 'broadcast']) expect(service(stage).command![0]).toBe(stage);
  });

  it('starts only commands and options the CLI has', () => {
    for (const [name, s] of vigilServices) {
      const args = [...s.command!];
      while (args[0]?.startsWith('-')) args.splice(0, 2); // global options such as --config <file>
      if (args[0] === '--help' || args.length === 0) continue;
      const cmd = cli.commands.find((c) => c.name() === args[0]);
      expect(cmd, `${name}: vigil ${args[0]}`).toBeDefined();
      for (const opt of args.slice(1).filter((a) => a.startsWith('--'))) expect(cmd!.options.map((o) => o.long), `${name}: ${opt}`).toContain(opt);
      const metrics = args[args.indexOf('--metrics') + 1];
      if (args.includes('--metrics')) expect(metrics).toMatch(/^0\.0\.0\.0:\d+$/); // reachable from outside the container
    }
  });

  it('sets only environment variables the code reads, and points them at the right places', () => {
    for (const [name, s] of vigilServices) {
      const env = s.environment!;
      for (const key of Object.keys(env)) {
        const readByCode = new RegExp(`(env\\.${key}\\b|env\\('${key}'\\))`).test(sources);
        const placeholder = read('docker/vigil.yaml').includes(`{${key}}`);
        expect(readByCode || placeholder, `${name}: ${key} is read by the CLI or the config`).toBe(true);
      }
      // The brokers the services bootstrap from are the address Kafka advertises.
      expect(String(service('kafka').environment!.KAFKA_ADVERTISED_LISTENERS)).toContain(`PLAINTEXT://${env.KAFKA_BROKERS}`);
      // State lives on the volume at VIGIL_DATA_DIR.
      expect(s.volumes).toContain(`vigil-state:${env.VIGIL_DATA_DIR}`);
      expect(Object.keys(compose.volumes)).toContain('vigil-state');
      expect(s.depends_on?.kafka?.condition).toBe('service_healthy');
      const cfg = configOf(s);
      expect(cfg.dataDir).toBe(String(env.VIGIL_DATA_DIR));
    }
  });

  it('publishes the port the broadcaster listens on (inside the container, on all interfaces) on the host\'s 127.0.0.1 unless VIGIL_PUBLISH_HOST says otherwise', () => {
    const s = service('broadcast');
    const cfg = configOf(s);
    expect(cfg.broadcast.host).toBe('0.0.0.0');
    expect(s.ports).toEqual([`\${VIGIL_PUBLISH_HOST:-127.0.0.1}:${cfg.broadcast.port}:${cfg.broadcast.port}`]);
    expect(cfg.bus.kafka?.brokers).toEqual([String(s.environment!.KAFKA_BROKERS)]);
    expect(configOf(service('ingest')).cameras.length).toBeGreaterThan(0);
  });

  it('reserves a GPU only for the optional GPU inference replica, which runs the CUDA provider', () => {
    const gpu = service('infer-gpu');
    expect(gpu.profiles).toEqual(['gpu']);
    expect(gpu.deploy!.resources.reservations.devices[0]!.capabilities).toContain('gpu');
    expect(configOf(gpu).inference.provider).toBe('cuda');
    // Same topics as the CPU replicas: they share one consumer group.
    expect(configOf(gpu).bus.kafka?.topicPrefix).toBe(configOf(service('infer')).bus.kafka?.topicPrefix);
    for (const [name, s] of vigilServices) if (name !== 'infer-gpu') expect(s.deploy, name).toBeUndefined();
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  it('copies files that exist, keeps them out of .dockerignore, and runs the CLI', () => {
    const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    expect(copies).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'bin', 'src', 'models']));
    const ignored = read('.dockerignore').split('\n').filter((l) => l && !l.startsWith('#'));
    for (const c of copies) {
      expect(existsSync(join(repoRoot, c)), c).toBe(true);
      expect(ignored, c).not.toContain(c);
    }
    expect(dockerfile).toMatch(/ENTRYPOINT \[.*"node", "--initial-old-space-size=128", "bin\/vigil\.js"\]/);
    expect(dockerfile).toContain('VIGIL_DATA_DIR=/data');
    expect(dockerfile).toMatch(/apt-get install .*ffmpeg/);
  });

  it('launches the CLI with the old-generation floor everywhere: the executable, the npm scripts, the image', async () => {
    // V8 reads the flag only at launch (NODE_OPTIONS refuses it); bin/vigil.js explains why it matters.
    const flag = '--initial-old-space-size=128';
    expect(read('bin/vigil.js').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${flag}`);
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.start).toBe(`node ${flag} bin/vigil.js start`);
    expect(scripts.vigil).toBe(`node ${flag} bin/vigil.js`);
    expect(dockerfile).toContain(`"node", "${flag}", "bin/vigil.js"`);
    // Run as an executable, the shebang's flag reaches node (a preload prints node's flags; --help exits at once).
    const preload = join(await tempDir(), 'argv.cjs');
    await writeFile(preload, 'process.stderr.write("execArgv: " + process.execArgv.join(" ") + "\\n");');
    const err = await new Promise<string>((done) =>
      execFile(join(repoRoot, 'bin', 'vigil.js'), ['--help'], { env: { ...process.env, NODE_OPTIONS: `--require ${preload}` } }, (_e, _o, stderr) => done(stderr)),
    );
    expect(err).toMatch(new RegExp(`^execArgv: .*${flag}`, 'm'));
  });

  it('holds every module the CLI can load (bench/ included) and the scripts they run', () => {
    const copies = [...dockerfile.matchAll(/^COPY (?!--from)(\S+) \S+$/gm)].map((m) => m[1]!);
    const inImage = (f: string): boolean => copies.some((c) => f === c || f.startsWith(`${c}/`));
    // The CLI's module graph from bin/vigil.js, static and dynamic relative imports alike.
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const m of read(file).matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)) {
        visit(relative(repoRoot, resolve(repoRoot, dirname(file), m[1]!.replace(/\.js$/, '.ts'))));
      }
      for (const m of read(file).matchAll(/'scripts', '([\w.-]+\.sh)'/g)) seen.add(`scripts/${m[1]}`);
    };
    visit('bin/vigil.js');
    expect(seen).toContain('bench/cli.ts');
    expect(seen).toContain('scripts/rtsp-server.sh');
    expect([...seen].filter((f) => !inImage(f))).toEqual([]);
  });
});
