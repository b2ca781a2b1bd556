import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { SASLOptions } from 'kafkajs';
import type { KafkaConfig } from '../../config/schema.js';
import { VigilError } from '../../errors.js';

/** TLS and SASL settings of a connection, as in the config (file paths; the password already substituted). */
export type KafkaSecurity = Pick<KafkaConfig, 'ssl' | 'sasl'>;

/** kafkajs's ssl and sasl options; the PEM files are read once, here. */
export function kafkajsSecurity(brokers: readonly string[], s: KafkaSecurity | undefined): { ssl?: ConnectionOptions; sasl?: SASLOptions } {
  const out: { ssl?: ConnectionOptions; sasl?: SASLOptions } = {};
  if (s?.ssl) {
    const read = (key: 'ca' | 'cert' | 'key'): string | undefined => {
      const file = s.ssl?.[key];
      if (file === undefined) return undefined;
      try {
        return readFileSync(file, 'utf8');
      } catch (err) {
        throw new VigilError('VIGIL_ERR_KAFKA_TLS', { brokers: brokers.join(','), reason: `cannot read bus.kafka.ssl.${key} (${file}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }, err);
      }
    };
    const ca = read('ca');
    out.ssl = { rejectUnauthorized: s.ssl.rejectUnauthorized, ...(ca ? { ca: [ca] } : {}), cert: read('cert'), key: read('key') };
  }
  if (s?.sasl) {
    const { username, password } = s.sasl;
    out.sasl = s.sasl.mechanism === 'scram-sha-256' ? { mechanism: 'scram-sha-256', username, password } : { mechanism: 'scram-sha-512', username, password };
  }
  return out;
}

/** Node's codes for a TLS peer that could not be verified (certificate chain, name, dates). */
const TLS_VERIFY = /CERT|SELF_SIGNED|ISSUER|ALTNAME|VERIFY|INVALID_CA|HOSTNAME|ERR_SSL|ERR_TLS/;
/** OpenSSL's codes for an alert the brokers sent: they refused the handshake. */
const TLS_ALERT = /ALERT/;

function chain(err: unknown): { name?: string; message?: string; code?: string | number; type?: string }[] {
  const out: { name?: string; message?: string; code?: string | number; type?: string }[] = [];
  for (let e = err as { cause?: unknown; originalError?: unknown } | undefined, i = 0; e && i < 5; i++) {
    out.push(e as (typeof out)[number]);
    e = (e.cause ?? e.originalError) as typeof e;
  }
  return out;
}

/**
 * Turns a failure to talk to the brokers that retrying cannot fix (credentials refused, a
 * certificate that does not verify, a listener that speaks another protocol) into a VigilError
 * that names the problem; undefined for anything else (a broker that is away: retry). A listener
 * that needs TLS or SASL closes a client's connection without an answer: reported as 'closed',
 * which a caller takes as the cause only when it persists (a restarting broker does it too).
 */
export function securityError(err: unknown, brokers: readonly string[], s: KafkaSecurity | undefined): VigilError | 'closed' | undefined {
  const b = brokers.join(',');
  for (const e of chain(err)) {
    if (e.name === 'KafkaJSSASLAuthenticationError' || e.type === 'SASL_AUTHENTICATION_FAILED') {
      return new VigilError('VIGIL_ERR_KAFKA_AUTH', { brokers: b, username: s?.sasl?.username ?? '', mechanism: s?.sasl?.mechanism ?? 'none', reason: 'wrong user name or password, or no such SCRAM user' });
    }
    if (e.type === 'ILLEGAL_SASL_STATE' || e.type === 'UNSUPPORTED_SASL_MECHANISM') {
      return new VigilError('VIGIL_ERR_KAFKA_AUTH', {
        brokers: b,
        username: s?.sasl?.username ?? '',
        mechanism: s?.sasl?.mechanism ?? 'none',
        reason: e.type === 'ILLEGAL_SASL_STATE' ? 'this listener takes no SASL login (leave bus.kafka.sasl out, or use the SASL_SSL listener\'s port)' : 'the listener does not offer this mechanism',
      });
    }
    if (typeof e.code === 'string' && TLS_ALERT.test(e.code)) {
      const certificate = /CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA/.test(e.code);
      return new VigilError('VIGIL_ERR_KAFKA_TLS', {
        brokers: b,
        reason: `${e.code}: the brokers refused the TLS handshake${certificate ? `: they require a client certificate their CA signed (bus.kafka.ssl.cert and key)${s?.ssl?.cert ? ', and refused the one given' : ''}` : ''}`,
      });
    }
    if (typeof e.code === 'string' && TLS_VERIFY.test(e.code)) {
      return new VigilError('VIGIL_ERR_KAFKA_TLS', { brokers: b, reason: `${e.code}: the brokers' certificate does not verify against ${s?.ssl?.ca ? `bus.kafka.ssl.ca (${s.ssl.ca})` : "the system's CAs (set bus.kafka.ssl.ca)"}` });
    }
    if (s?.ssl && /before secure TLS connection was established/i.test(e.message ?? '')) {
      return new VigilError('VIGIL_ERR_KAFKA_TLS', { brokers: b, reason: 'the brokers did not answer the TLS handshake: this listener takes no TLS (leave bus.kafka.ssl out, or use the TLS listener\'s port)' });
    }
    if (e.name === 'KafkaJSConnectionClosedError') return 'closed';
  }
  return undefined;
}

/** What a persistent 'closed' means, given what the client sent. */
export function closedError(brokers: readonly string[], s: KafkaSecurity | undefined, attempts: number): VigilError {
  const needs = !s?.ssl ? 'TLS (bus.kafka.ssl) and perhaps SASL (bus.kafka.sasl)' : !s.sasl ? 'a SASL login (bus.kafka.sasl)' : 'another protocol than TLS with SASL';
  return new VigilError('VIGIL_ERR_KAFKA_TLS', {
    brokers: brokers.join(','),
    reason: `the brokers closed the connection without an answer ${attempts} times in a row: the listener likely needs ${needs}`,
  });
}
