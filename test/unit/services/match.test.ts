import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { isVigilError } from '../../../src/errors.js';
import { createLogger } from '../../../src/log.js';
import { startMatch } from '../../../src/services/match.js';

describe('vigil match', () => {
  it('refuses an unknown profile with its code and the known profiles, before touching Kafka', async () => {
    // No broker listens there: the profile is checked first.
    const cfg = parseConfig({ bus: { kafka: { brokers: ['127.0.0.1:1'] } } }, {});
    const err = await startMatch(cfg, createLogger('silent'), { profile: 'no-such-profile' }).catch((e: unknown) => e);
    expect(isVigilError(err, 'VIGIL_ERR_MODEL_UNKNOWN_PROFILE'), String(err)).toBe(true);
    expect((err as Error).message).toContain('research');
  });
});
