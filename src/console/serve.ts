import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { build } from 'esbuild';

/**
 * Serves the operator console (src/console/app) from the broadcast port: `/` (the page),
 * `/console.js` (the app bundled by esbuild from npm packages, once per process, in memory) and
 * `/console.css`. Nothing comes from a CDN; the Content-Security-Policy allows scripts, styles and
 * connections to this origin only, and images from it or data: URLs (the crops), so event data can
 * never run as code. The page itself holds no data; everything arrives through the token-protected API.
 */

const APP_DIR = join(import.meta.dirname, 'app');

/** `'self'` covers ws:/wss: to the same host in current browsers (CSP Level 3). */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Vigil operator console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console.css">
<script type="module" src="/console.js"></script>
</head>
<body><div id="app"></div></body>
</html>
`;

interface Asset {
  readonly type: string;
  readonly body: string;
}

let bundle: Promise<Asset> | undefined;

/** Bundles the app (minified, ES2022, sourcemap inline-free); the first request waits for it (~100 ms), later ones reuse it. */
export function consoleBundle(): Promise<Asset> {
  bundle ??= build({
    entryPoints: [join(APP_DIR, 'main.ts')],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
  }).then(
    // write: false with one entry point: exactly one output file.
    (r) => ({ type: 'text/javascript; charset=utf-8', body: r.outputFiles[0]!.text }),
    (err: unknown) => {
      bundle = undefined; // a failed build is retried by the next request
      throw err;
    },
  );
  return bundle;
}

// Bundled as soon as the server loads this module, so the first visitor does not wait for it.
consoleBundle().catch(() => undefined); // a failure is reported to whoever requests /console.js

let css: Asset | undefined;
const stylesheet = (): Asset => (css ??= { type: 'text/css; charset=utf-8', body: readFileSync(join(APP_DIR, 'console.css'), 'utf8') });

const HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cache-control': 'no-store',
};

function send(req: IncomingMessage, res: ServerResponse, a: Asset): void {
  res.writeHead(200, { ...HEADERS, 'content-type': a.type, 'content-length': Buffer.byteLength(a.body) });
  res.end(req.method === 'HEAD' ? undefined : a.body);
}

/**
 * Answers GET/HEAD for the console's three paths and returns true; returns false (and writes
 * nothing) for anything else, so the HTTP server goes on to its other routes or a 404.
 */
export function serveConsole(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (path === '/' || path === '/index.html') {
    send(req, res, { type: 'text/html; charset=utf-8', body: PAGE });
    return true;
  }
  if (path === '/console.css') {
    send(req, res, stylesheet());
    return true;
  }
  if (path === '/console.js') {
    consoleBundle().then(
      (a) => send(req, res, a),
      (err: Error) => {
        res.writeHead(500, { ...HEADERS, 'content-type': 'text/plain; charset=utf-8' });
        res.end(`console bundle failed: ${err.message}`);
      },
    );
    return true;
  }
  return false;
}
