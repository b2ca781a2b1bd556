import { describe, expect, it } from 'vitest';
import { redactConfigText, redactSecrets, redactUrls, safeUrl, secretsOf } from '../../../src/util/redact.js';

describe('credential redaction (the one redactor)', () => {
  it('hides the password of a camera URL, encoded or not', () => {
    expect(safeUrl('rtsp://admin:hunter22@10.0.0.5:554/stream1')).toBe('rtsp://admin:***@10.0.0.5:554/stream1');
    expect(safeUrl('rtsp://admin:p%40ss%23word@cam/x')).toBe('rtsp://admin:***@cam/x');
    expect(secretsOf('rtsp://admin:p%40ss%23word@cam/x')).toEqual(expect.arrayContaining(['p%40ss%23word', 'p@ss#word']));
  });

  it('hides a password typed unencoded with any character in it, whole', () => {
    for (const pass of ['Sup3r#S3cr@t?x', 'pa/ss/word', 'a:b:c', '100%sure', 'x@y@z', 'sl/ash@at:co#lon%pc', 'we ird']) {
      const url = `rtsp://admin:${pass}@10.0.0.5:554/live?channel=1`;
      expect(safeUrl(url), pass).toBe('rtsp://admin:***@10.0.0.5:554/live?channel=1');
      // and in any text that quotes it, decoded or not
      expect(redactSecrets(`[rtsp @ 0x1] ${url}: 401; auth '${pass}'`, url), pass).not.toContain(pass);
    }
    // With no known URL (a log line), the user info still goes whole up to the "@" before the host.
    expect(redactUrls('failed: rtsp://admin:pa/ss@word@cam.local/x')).toBe('failed: rtsp://admin:***@cam.local/x');
    expect(redactUrls('at [http://u:p%2Fq@[::1]:8080/a]')).toBe('at [http://u:***@[::1]:8080/a]');
  });

  it('hides every credential-like query or fragment value, any case', () => {
    const names = ['pass', 'password', 'PWD', 'passwd', 'access_token', 'token', 'api_key', 'apikey', 'key', 'secret', 'auth', 'Signature', 'sig', 'credential', 'X-Amz-Credential', 'client_secret', 'session'];
    for (const n of names) {
      const url = `http://cam.local/video.cgi?user=admin&${n}=s3cr3tvalue&channel=2`;
      expect(safeUrl(url), n).toBe(`http://cam.local/video.cgi?user=admin&${n}=***&channel=2`);
      expect(redactSecrets(`token s3cr3tvalue rejected`, url), n).toBe('token *** rejected');
    }
    expect(redactUrls('https://h/cb#access_token=abc123&state=x')).toBe('https://h/cb#access_token=***&state=x');
  });

  it('hides the password wherever ffmpeg prints it, even decoded', () => {
    const url = 'http://cam.local/video.cgi?user=admin&password=s%20cret99&token=abc123';
    expect(safeUrl(url)).toBe('http://cam.local/video.cgi?user=admin&password=***&token=***');
    const text = "[http @ 0x5] auth with 'admin' / 's cret99' failed; token abc123 rejected";
    expect(redactSecrets(text, url)).toBe("[http @ 0x5] auth with 'admin' / '***' failed; token *** rejected");
  });

  it('leaves URLs without credentials and plain files alone', () => {
    expect(safeUrl('rtsp://10.0.0.5/stream1')).toBe('rtsp://10.0.0.5/stream1');
    expect(safeUrl('rtsp://viewer@10.0.0.5/stream1')).toBe('rtsp://viewer@10.0.0.5/stream1');
    expect(safeUrl('/videos/door@night.mp4')).toBe('/videos/door@night.mp4');
    expect(safeUrl('http://cam/x?user=admin&channel=1')).toBe('http://cam/x?user=admin&channel=1');
    // A 1-2 character password is only removed inside URLs: replacing "a" everywhere would mangle text.
    expect(redactSecrets('rtsp://u:a@h/x: Server returned 401', 'rtsp://u:a@h/x')).toBe('rtsp://u:***@h/x: Server returned 401');
  });

  it('redacts a config excerpt: URL passwords and credential-named keys', () => {
    const file = 'cameras:\n  - { id: door, url: "rtsp://admin:hunter2/x@cam/1" \nbus:\n  kafka:\n    password: "kafkaSecret9"\n';
    const msg = 'Missing } at line 2, column 50:\n\n  - { id: door, url: "rtsp://admin:hunter2/x@cam/1" \n ^\n password: "kafkaSecret9"';
    const out = redactConfigText(msg, file);
    expect(out).not.toContain('hunter2');
    expect(out).not.toContain('kafkaSecret9');
    expect(out).toContain('rtsp://admin:***@cam/1');
  });
});
