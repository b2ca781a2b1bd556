import { open, rename, mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** fsync a folder, so a rename into it survives a power cut (not only a process crash). */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A temp name next to `file` that says which process writes it (cleanStaleTemp reads the pid back). */
export const tempNameFor = (file: string): string => `${file}.${process.pid}.${Date.now()}.tmp`;

/**
 * Writes a file so that readers see the old or the new content, never a torn one, also across a
 * power cut: temp file (0600), fsync, rename, fsync of the folder. Folders are created 0700.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = tempNameFor(file);
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  await fsyncDir(dirname(file));
}

const TEMP = /\.(\d+)\.\d+\.tmp$/;

/**
 * Deletes `*.tmp` files in `dir` left by a writer that died (power cut, kill -9): those whose
 * process is gone, or, for names without a pid, older than an hour. A live writer's file is kept.
 */
export async function cleanStaleTemp(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const n of names) {
    if (!n.endsWith('.tmp')) continue;
    const path = join(dir, n);
    const pid = TEMP.exec(n)?.[1];
    const stale = pid ? !alive(Number(pid)) : Date.now() - (await stat(path).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs > 3_600_000;
    if (stale && (await unlink(path).then(() => true, () => false))) removed.push(path);
  }
  return removed;
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
