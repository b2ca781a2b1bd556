import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { HEAP_FLAG, warnWithoutHeapFloor } from '../../../src/cli/heap.js';

function captured(): { log: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(chunk.toString()), done()) });
  return { log: pino({ level: 'info' }, sink), lines };
}

describe('warnWithoutHeapFloor', () => {
  it('says how to start Vigil when node was started without the old-generation floor, and nothing when it was', () => {
    const without = captured();
    expect(warnWithoutHeapFloor(without.log, ['--enable-source-maps'])).toBe(true);
    expect(without.lines).toHaveLength(1);
    const line = JSON.parse(without.lines[0]!) as { level: number; msg: string };
    expect(line.level).toBe(40);
    expect(line.msg).toContain(HEAP_FLAG);
    expect(line.msg).toContain('bin/vigil.js');
    for (const argv of [[HEAP_FLAG], ['--initial-old-space-size=512'], ['--initial-old-space-size', '256']]) {
      const ok = captured();
      expect(warnWithoutHeapFloor(ok.log, argv)).toBe(false);
      expect(ok.lines).toEqual([]);
    }
  });
});
