import { describe, expect, it } from 'vitest';
import { redactSecrets, safeUrl, secretsOf } from '../../../src/ingest/redact.js';

describe('credential redaction', () => {
  it('hides the password of a camera URL, encoded or not', () => {
    expect(safeUrl('rtsp://admin:hunter22@10.0.0.5:554/stream1')).toBe('rtsp://admin:***@10.0.0.5:554/stream1');
    expect(safeUrl('rtsp://admin:p%40ss%23word@cam/x')).toBe('rtsp://admin:***@cam/x');
    expect(secretsOf('rtsp://admin:p%40ss%23word@cam/x')).toEqual(['p%40ss%23word', 'p@ss#word']);
  });

  it('hides a password typed unencoded with "@", "#" or "?" in it, whole', () => {
    const url = 'rtsp://admin:Sup3r#S3cr@t?x@10.0.0.5/live';
    expect(safeUrl(url)).toBe('rtsp://admin:***@10.0.0.5/live');
    expect(safeUrl(url)).not.toMatch(/S3cr|Sup3r|t\?x/);
  });

  it('hides secret query values and the password wherever ffmpeg prints it, even decoded', () => {
    const url = 'http://cam.local/video.cgi?user=admin&password=s%20cret99&token=abc123';
    expect(safeUrl(url)).toBe('http://cam.local/video.cgi?user=admin&password=***&token=***');
    const text = "[http @ 0x5] auth with 'admin' / 's cret99' failed; token abc123 rejected";
    expect(redactSecrets(text, url)).toBe("[http @ 0x5] auth with 'admin' / '***' failed; token *** rejected");
  });

  it('leaves URLs without credentials and plain files alone', () => {
    expect(safeUrl('rtsp://10.0.0.5/stream1')).toBe('rtsp://10.0.0.5/stream1');
    expect(safeUrl('/videos/door@night.mp4')).toBe('/videos/door@night.mp4');
    // A 1-2 character password is only removed inside URLs: replacing "a" everywhere would mangle text.
    expect(redactSecrets('rtsp://u:a@h/x: Server returned 401', 'rtsp://u:a@h/x')).toBe('rtsp://u:***@h/x: Server returned 401');
  });
});
