import type { Logger } from '../log.js';

/**
 * The V8 launch flag every launcher passes (bin/vigil.js's shebang, the npm scripts, the image; the
 * reason is in bin/vigil.js). V8 reads it only when the heap is made, so a command that runs frames
 * can only say when it is missing: a service started as `node bin/vigil.js …` spends about a quarter
 * of its CPU in the garbage collector (README "Throughput", fourth round).
 */
export const HEAP_FLAG = '--initial-old-space-size=128';

/** Warns once when node was started without HEAP_FLAG (any --initial-old-space-size counts); returns whether it warned. */
export function warnWithoutHeapFloor(log: Logger, execArgv: readonly string[] = process.execArgv): boolean {
  const name = HEAP_FLAG.split('=')[0]!;
  if (execArgv.some((a) => a === name || a.startsWith(`${name}=`))) return false;
  log.warn(`node was started without ${HEAP_FLAG}: garbage collection will take about a quarter of the CPU; start Vigil as bin/vigil.js, with npm start, or as node ${HEAP_FLAG} bin/vigil.js`);
  return true;
}
