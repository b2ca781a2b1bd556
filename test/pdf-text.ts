import { inflateSync } from 'node:zlib';

/**
 * The visible text of a PDF that Chromium printed, good enough to check what a report says: inflates
 * every stream, reads the fonts' ToUnicode CMaps and decodes the hex strings of the text operators
 * with each. Not a general PDF parser: the tests' way to read what a report.pdf says.
 */
export function pdfText(pdf: Buffer): string {
  const s = pdf.toString('latin1');
  const streams: string[] = [];
  for (const m of s.matchAll(/stream\r?\n/g)) {
    const start = m.index + m[0].length;
    const end = s.indexOf('endstream', start);
    try {
      streams.push(inflateSync(pdf.subarray(start, end)).toString('latin1'));
    } catch {
      // not Flate (images): no text
    }
  }
  const cmaps = streams.filter((t) => t.includes('begincmap')).map(parseCmap);
  const content = streams.filter((t) => /\bBT\b/.test(t));
  const out: string[] = [];
  for (const c of content) {
    for (const cmap of cmaps) {
      const words: string[] = [];
      for (const block of c.matchAll(/\[((?:<[0-9A-Fa-f]*>|[^\]])*)\]\s*TJ|<([0-9A-Fa-f]*)>\s*Tj/g)) {
        const hexes = block[1] !== undefined ? [...block[1].matchAll(/<([0-9A-Fa-f]*)>/g)].map((h) => h[1]!) : [block[2]!];
        words.push(hexes.map((h) => decodeHex(h, cmap)).join(''));
      }
      out.push(words.join(' '));
    }
  }
  return out.join('\n');
}

function parseCmap(t: string): Map<number, string> {
  const map = new Map<number, string>();
  const u = (hex: string): string => String.fromCharCode(...(hex.match(/.{4}/g) ?? []).map((x) => parseInt(x, 16)));
  for (const sec of t.matchAll(/beginbfchar([\s\S]*?)endbfchar/g)) {
    for (const m of sec[1]!.matchAll(/<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>/g)) map.set(parseInt(m[1]!, 16), u(m[2]!));
  }
  for (const sec of t.matchAll(/beginbfrange([\s\S]*?)endbfrange/g)) {
    for (const m of sec[1]!.matchAll(/<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>/g)) {
      const lo = parseInt(m[1]!, 16);
      const hi = parseInt(m[2]!, 16);
      const base = parseInt(m[3]!, 16);
      for (let g = lo; g <= hi; g++) map.set(g, String.fromCharCode(base + g - lo));
    }
  }
  return map;
}

function decodeHex(hex: string, cmap: Map<number, string>): string {
  let r = '';
  for (let i = 0; i + 4 <= hex.length; i += 4) r += cmap.get(parseInt(hex.slice(i, i + 4), 16)) ?? '';
  return r;
}
