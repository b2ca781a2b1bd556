import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../../src/models/manifest.js';
import { alertPayload, eventLists } from '../../../src/sinks/payload.js';
import { backoffMs } from '../../../src/sinks/dispatcher.js';
import { signBody, verifySignature } from '../../../src/sinks/signature.js';
import { discoveryConfig, mqttTopics, topicLevel } from '../../../src/sinks/mqtt.js';
import { matchEvent } from '../../sinks.js';

describe('sink payload', () => {
  const manifest = loadManifest();

  it('carries provenance and a console link; the crop only when asked', () => {
    const e = matchEvent(1, { profile: 'research', model: 'w600k_mbf_fp32', threshold: 0.3527, margin: 0.12, rule: 'k-of-n' });
    const p = alertPayload(e, { manifest, publicUrl: 'https://vigil.example/', includeCrop: false });
    expect(p.provenance).toEqual({ model: 'w600k_mbf_fp32', profile: 'research', threshold: 0.3527, fpir: 0.01, rule: 'k-of-n', margin: 0.12 });
    expect(p.url).toBe(`https://vigil.example/#/events/${encodeURIComponent(e.id)}`);
    expect(p.crop).toBeUndefined();
    expect(alertPayload(e, { manifest, includeCrop: true }).crop).toBe(e.crop);
    expect(alertPayload({ ...e, profile: 'unknown' }, { includeCrop: false }).provenance.fpir).toBeNull();
  });

  it('reads the list the event was raised for', () => {
    const e = matchEvent(1);
    expect(eventLists(e)).toEqual([]);
    expect(eventLists({ ...e, list: 'banned', priority: 9 })).toEqual(['banned']);
  });
});

describe('webhook signature', () => {
  const body = '{"a":1}';
  const secret = 'a-secret-of-sixteen+';
  it('accepts its own signature and rejects a changed body, another secret, an old timestamp, garbage', () => {
    const now = 1_800_000_000;
    const h = signBody(secret, body, now);
    expect(verifySignature(h, body, secret, 300, now + 10)).toEqual({ ok: true });
    expect(verifySignature(h, '{"a":2}', secret, 300, now)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySignature(h, body, 'another-secret-1234', 300, now)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySignature(h, body, secret, 300, now + 301)).toEqual({ ok: false, reason: 'stale' });
    expect(verifySignature('t=1,v1=zz', body, secret, 300, now).ok).toBe(false);
    expect(verifySignature(undefined, body, secret).ok).toBe(false);
  });
});

describe('retry backoff', () => {
  it('doubles from the initial wait up to the cap, with jitter in the upper half', () => {
    expect(backoffMs(1, 100, 1000, () => 1)).toBe(100);
    expect(backoffMs(3, 100, 1000, () => 1)).toBe(400);
    expect(backoffMs(10, 100, 1000, () => 1)).toBe(1000);
    expect(backoffMs(10, 100, 1000, () => 0)).toBe(500);
  });
});

describe('mqtt topics', () => {
  it('keeps ids inside one topic level and names the Home Assistant sensor per camera', () => {
    const t = mqttTopics({ topicPrefix: 'vigil', discoveryPrefix: 'homeassistant' });
    expect(t.subject('a/b#+')).toBe('vigil/subject/a%2Fb%23%2B');
    expect(topicLevel('gate-1.cam')).toBe('gate-1.cam');
    expect(t.discovery('gate-1.cam')).toBe('homeassistant/sensor/vigil_gate_1_cam_last_person/config');
    const d = discoveryConfig(t, 'door');
    expect(d.state_topic).toBe('vigil/door/last_person');
    expect(d.availability).toEqual([{ topic: 'vigil/availability' }, { topic: 'vigil/door/availability' }]);
    expect(mqttTopics({ topicPrefix: 'vigil', discoveryPrefix: '' }).discovery('door')).toBeNull();
  });
});
