import { spawn } from 'node:child_process';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot, tempDir, testModelsDir } from '../helpers.js';

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real CLI (bin/vigil.js) as a child process. */
export function vigil(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<CliResult> {
  return runProcess(process.execPath, [join(repoRoot, 'bin', 'vigil.js'), ...args], env, timeoutMs);
}

/** Runs `command` in the repository with quiet logs and `env` added; collects its output. */
export function runProcess(command: string, args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(command, args, {
      cwd: repoRoot,
      env: { ...process.env, VIGIL_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A fresh data dir whose models folder is the test run's installed models (research + permissive). */
export async function dataDirWithModels(): Promise<string> {
  const dir = await tempDir('vigil-data-');
  await mkdir(dir, { recursive: true });
  await symlink(testModelsDir(), join(dir, 'models'));
  return dir;
}
