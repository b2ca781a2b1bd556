import { describe, expect, it } from 'vitest';
import { tidyReason } from '../../../src/ingest/camera-errors.js';
import { classifyFailure } from '../../../src/ingest/failure.js';

// ffmpeg 5.1's own last words for each case (recorded from the RTSP tests against mediamtx).
const said = {
  auth: '[rtsp @ 0x5620673d4a40] method DESCRIBE failed: 401 Unauthorized | rtsp://viewer:***@127.0.0.1:44143/cam1: Server returned 401 Unauthorized (authorization failed)',
  notFound: '[rtsp @ 0x56259ed0ea40] method DESCRIBE failed: 404 Not Found | rtsp://viewer:***@127.0.0.1:44143/nope: Server returned 404 Not Found',
  noVideo: "Stream map '0:v:0' matches no streams. | To ignore this, add a trailing '?' to the map.",
  refused: '[tcp @ 0x559d89060680] Connection to tcp://127.0.0.1:1?timeout=0 failed: Connection refused | rtsp://viewer:***@127.0.0.1:1/x: Connection refused',
  notMedia: 'http://admin:***@127.0.0.1:39081/: Invalid data found when processing input',
  noFile: '/tmp/missing.mp4: No such file or directory',
};

describe('ffmpeg failure classification', () => {
  it('tells credentials, path, network and not-video apart', () => {
    expect(classifyFailure(said.auth)).toBe('auth');
    expect(classifyFailure(said.notFound)).toBe('not-found');
    expect(classifyFailure(said.noFile)).toBe('not-found');
    expect(classifyFailure(said.noVideo)).toBe('not-video');
    expect(classifyFailure(said.notMedia)).toBe('not-video');
    expect(classifyFailure(said.refused)).toBe('unreachable');
    expect(classifyFailure('Conversion failed!')).toBe('other');
  });

  it('drops ffmpeg\'s component prefixes and advice from the reason shown', () => {
    expect(tidyReason(said.noVideo)).toBe("Stream map '0:v:0' matches no streams.");
    expect(tidyReason(said.auth)).toBe('method DESCRIBE failed: 401 Unauthorized; rtsp://viewer:***@127.0.0.1:44143/cam1: Server returned 401 Unauthorized (authorization failed)');
  });
});
