import { z } from 'zod';

/**
 * THE configuration schema (one model, like Frigate's): strict objects reject unknown keys, every
 * field says what it means and its unit, and defaults live here and only here. Types are inferred.
 */
export const cameraSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." and "-" only').describe('stable camera id used in events and metrics'),
  name: z.string().optional().describe('human-readable camera name'),
  url: z.string().min(1).describe('rtsp://, http(s):// or a file path; may hold {VIGIL_*} placeholders for secrets'),
  fps: z.number().positive().max(60).default(5).describe('frames sampled per second'),
  maxWidth: z.number().int().min(64).max(7680).default(1280).describe('frames wider than this are scaled down, px'),
  realtime: z.boolean().default(true).describe('files only: pace at the recording speed (a simulated live camera) instead of as fast as possible'),
  loop: z.boolean().default(false).describe('files only: start again at the end'),
  enabled: z.boolean().default(true),
});

export const configSchema = z.strictObject({
  dataDir: z.string().default('.vigil').describe('state folder: watchlist, index, models, token (relative to the working directory)'),
  sharedDir: z.string().default('../shared').describe('development data and models folder (VIGIL_SHARED_DIR overrides)'),
  models: z
    .strictObject({
      profile: z.string().default('auto').describe('model profile from models/manifest.json, or "auto": the best installed one, else the npm channel'),
      localSource: z.string().optional().describe('folder `vigil models pull` copies from; default <sharedDir>/models'),
    })
    .prefault({}),
  inference: z
    .strictObject({
      provider: z.enum(['cpu', 'webgpu', 'cuda']).default('cpu').describe('onnxruntime execution provider'),
      threads: z.number().int().min(1).max(64).default(1).describe('intra-op threads per model session'),
      batchSize: z.number().int().min(1).max(256).default(8).describe('most frames taken from the queue and whose faces are embedded together'),
      batchWaitMs: z.number().int().min(0).max(1000).default(15).describe('longest wait for a batch to fill, ms'),
      minFaceSize: z.number().min(0).default(20).describe('faces whose box is smaller than this (shorter side) are ignored, px'),
    })
    .prefault({}),
  matcher: z
    .strictObject({
      threshold: z.number().min(-1).max(1).optional().describe('cosine similarity for a match; default: the profile\'s calibrated value'),
      topK: z.number().int().min(1).max(50).default(3).describe('candidates reported with each match'),
    })
    .prefault({}),
  broadcast: z
    .strictObject({
      host: z.string().default('127.0.0.1').describe('WebSocket listen address'),
      port: z.number().int().min(0).max(65535).default(8765).describe('WebSocket listen port (0 = any free port)'),
      token: z.string().min(16).optional().describe('clients must present it; generated and stored in dataDir at first start when unset'),
      maxPayloadBytes: z.number().int().min(128).default(4096).describe('largest message a client may send; larger closes the socket (1009)'),
      maxBufferedBytes: z.number().int().min(1024).default(8 * 1024 * 1024).describe('a client this far behind is disconnected instead of queuing without limit'),
    })
    .prefault({}),
  queues: z
    .strictObject({
      frames: z.number().int().min(1).default(8).describe('frames waiting for inference; live cameras drop the oldest beyond this'),
      faces: z.number().int().min(1).default(64),
      matches: z.number().int().min(1).default(1024).describe('match events are never dropped: producers wait'),
    })
    .prefault({}),
  cameras: z.array(cameraSchema).default([]),
  log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type CameraConfig = z.infer<typeof cameraSchema>;
export type ConfigInput = z.input<typeof configSchema>;
