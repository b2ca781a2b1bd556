import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { isVigilError } from '../../../src/errors.js';

const problemsOf = (raw: unknown, env: Record<string, string> = {}): string => {
  try {
    parseConfig(raw, env);
  } catch (err) {
    if (isVigilError(err, 'VIGIL_ERR_CONFIG_INVALID')) return err.message;
    throw err;
  }
  return '';
};

describe('config: sinks and metrics keys', () => {
  it('fills defaults and takes the secret from the environment', () => {
    const cfg = parseConfig({ sinks: [{ type: 'webhook', id: 'vms', url: 'https://vms.example/h', secret: '{VIGIL_VMS_SECRET}' }, { type: 'mqtt', id: 'ha', url: 'mqtt://127.0.0.1:1883' }] }, { VIGIL_VMS_SECRET: 'from-the-environment-1' });
    const [hook, mq] = cfg.sinks;
    expect(hook).toMatchObject({ secret: 'from-the-environment-1', enabled: true, includeCrop: false, timeoutMs: 10_000, retry: { maxAttempts: 10, initialBackoffMs: 1000, maxBackoffMs: 60_000, maxAgeSeconds: 3600 } });
    expect(mq).toMatchObject({ topicPrefix: 'vigil', discoveryPrefix: 'homeassistant' });
    expect(cfg.metrics).toEqual({ host: '127.0.0.1' });
  });

  it('names the bad key: duplicate ids, a wrong scheme, a short secret, an unset placeholder, an unknown key', () => {
    expect(problemsOf({ sinks: [{ type: 'mqtt', id: 'a', url: 'mqtt://h:1' }, { type: 'mqtt', id: 'a', url: 'mqtt://h:1' }] })).toContain('sinks: sink ids must be unique');
    expect(problemsOf({ sinks: [{ type: 'webhook', id: 'a', url: 'ftp://x', secret: '0123456789abcdef' }] })).toContain('sinks.0.url: http:// or https:// URL');
    expect(problemsOf({ sinks: [{ type: 'webhook', id: 'a', url: 'http://x', secret: 'short' }] })).toContain('sinks.0.secret');
    expect(problemsOf({ sinks: [{ type: 'webhook', id: 'a', url: 'http://x', secret: '{VIGIL_NOPE}' }] })).toContain('environment variable VIGIL_NOPE is not set');
    expect(problemsOf({ sinks: [{ type: 'mqtt', id: 'a', url: 'mqtt://h:1', topicPrefix: 'vigil/#' }] })).toContain('sinks.0.topicPrefix: no MQTT wildcards');
    expect(problemsOf({ metrics: { token: 'short' } })).toContain('metrics.token');
    expect(problemsOf({ sinks: [{ type: 'mqtt', id: 'a', url: 'mqtt://h:1', bogus: 1 }] })).toContain('bogus');
  });
});
