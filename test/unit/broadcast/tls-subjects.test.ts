import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { watchlistDirectory } from '../../../src/broadcast/api.js';
import { WatchlistStore } from '../../../src/matcher/watchlist.js';
import { faces, tempDir } from '../../helpers.js';
import { startServer, TOK } from './feed-helpers.js';

describe('broadcast server over TLS (broadcast.tls)', () => {
  it('serves the API over https and the feed over wss with a self-signed certificate', async () => {
    const dir = await tempDir();
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const s = await startServer({ tls: { cert, key } });
    try {
      const ca = readFileSync(cert);
      // https: Node's fetch cannot take a CA, so use https.get with it.
      const { get } = await import('node:https');
      const body = await new Promise<string>((resolve, reject) => {
        get(`${s.base}/api/status`, { ca, headers: { authorization: `Bearer ${TOK.viewer}` } }, (res) => {
          let t = '';
          res.on('data', (d: Buffer) => (t += d.toString()));
          res.on('end', () => resolve(t));
        }).on('error', reject);
      });
      expect(JSON.parse(body)).toMatchObject({ server: 'vigil', role: 'viewer' });
      const hello = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const ws = new WebSocket(`wss://127.0.0.1:${s.server.port}/?token=${TOK.viewer}`, { ca });
        ws.once('message', (m) => {
          resolve(JSON.parse(m.toString()) as Record<string, unknown>);
          ws.close();
        });
        ws.once('error', reject);
      });
      expect(hello).toMatchObject({ kind: 'hello' });
      // Plain http on the TLS port is refused (no cleartext fallback).
      await expect(fetch(`http://127.0.0.1:${s.server.port}/api/status?token=${TOK.viewer}`)).rejects.toThrow();
    } finally {
      await s.stop();
    }
  });

  it('an unreadable certificate file is a clear VIGIL_ERR_BROADCAST_TLS', async () => {
    await expect(startServer({ tls: { cert: '/nonexistent/cert.pem', key: '/nonexistent/key.pem' } })).rejects.toThrow(/VIGIL_ERR_BROADCAST_TLS|cannot read the broadcast TLS certificate \/nonexistent\/cert.pem/);
  });
});

describe('GET /api/subjects', () => {
  it('lists watchlist subjects with a 96x96 JPEG thumbnail of the enrollment photo', async () => {
    const dir = await tempDir();
    const w = await new WatchlistStore(dir).load();
    const photo = faces('face_recognition', 'obama', 'obama.jpg');
    const sha = await w.keepImage(photo, readFileSync(photo));
    await w.upsert({ id: 'obama', name: 'Barack Obama', createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', images: [{ sha256: sha, name: 'obama.jpg' }], embeddings: [] });
    const s = await startServer({ subjects: watchlistDirectory(w) });
    try {
      const r = await s.api('/api/subjects', TOK.viewer);
      expect(r.body).toMatchObject({ subjects: [{ id: 'obama', name: 'Barack Obama', photos: 1, thumbnail: expect.any(String) }] });
      const thumb = Buffer.from((r.body['subjects'] as { thumbnail: string }[])[0]!.thumbnail, 'base64');
      const { default: sharp } = await import('sharp');
      expect(await sharp(thumb).metadata()).toMatchObject({ format: 'jpeg', width: 96, height: 96 });
    } finally {
      await s.stop();
    }
  });

  it('gives a page (never the whole watchlist) or the subjects asked for by id, and refuses too many ids', async () => {
    const w = await new WatchlistStore(await tempDir()).load();
    const at = '2026-01-01T00:00:00Z';
    w.write(() => {
      for (let i = 0; i < 30; i++) w.putInTx({ id: `p${i}`, name: `Person ${i}`, createdAt: at, updatedAt: at, images: [], embeddings: [] });
    });
    const s = await startServer({ subjects: watchlistDirectory(w) });
    try {
      const page = await s.api('/api/subjects?limit=10&offset=5', TOK.viewer);
      expect(page.body['total']).toBe(30);
      expect(page.body['subjects']).toHaveLength(10);
      const byId = await s.api('/api/subjects?ids=p3,p29,nobody,p3', TOK.viewer);
      expect((byId.body['subjects'] as { id: string; thumbnail: null }[]).map((x) => [x.id, x.thumbnail])).toEqual([
        ['p3', null],
        ['p29', null],
      ]);
      const many = await s.api(`/api/subjects?ids=${Array.from({ length: 501 }, (_, i) => `p${i}`).join(',')}`, TOK.viewer);
      expect(many.status).toBe(400);
      expect(JSON.stringify(many.body)).toMatch(/ids: 501 given, at most 500/);
      expect((await s.api('/api/subjects?limit=5000', TOK.viewer)).status).toBe(400);
    } finally {
      await s.stop();
    }
  });
});
