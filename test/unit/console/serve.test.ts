import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY, serveConsole } from '../../../src/console/serve.js';

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (!serveConsole(req, res)) res.writeHead(404).end('not the console');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('serveConsole', () => {
  it('serves the page, its bundle and stylesheet with a strict CSP; the token in the URL never reaches the markup', async () => {
    const page = await fetch(`${base}/?token=secret-token-123`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toMatch(/default-src 'none'; script-src 'self'; style-src 'self'/);
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await page.text();
    expect(html).toContain('<script type="module" src="/console.js"></script>');
    expect(html).not.toContain('secret-token-123');
    expect(html).not.toMatch(/https?:\/\//); // nothing from a CDN

    const js = await fetch(`${base}/console.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const code = await js.text();
    expect(code.length).toBeGreaterThan(10_000); // Preact, htm and the app, bundled
    expect(/\bimport\s*\(?\s*["']https?:/.test(code)).toBe(false); // no module from elsewhere

    const css = await fetch(`${base}/console.css`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await css.text()).toContain('.alert');
  });

  it('leaves every other request to the server', async () => {
    for (const [method, path] of [
      ['GET', '/api/events'],
      ['GET', '/metrics'],
      ['GET', '/console.ts'],
      ['POST', '/'],
    ]) {
      const r = await fetch(`${base}${path}`, { method });
      expect([r.status, await r.text()]).toEqual([404, 'not the console']);
    }
  });
});
