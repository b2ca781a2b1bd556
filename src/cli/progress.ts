import cliProgress from 'cli-progress';

export interface Progress {
  /** media time reached and the recording's duration, s (null: not known yet) */
  update(mediaTime: number, duration: number | null): void;
  stop(): void;
}

const fmt = (s: number): string => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;

/**
 * A progress bar on stderr when it is a terminal (file, video time done, speed as a multiple of
 * real time, ETA); elsewhere (pipes, CI, tests) nothing, so machine-readable output stays clean.
 */
export function progressBar(file: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { stream, format: '{file} |{bar}| {done} / {length} video  {speed}x real time  ETA {eta_formatted}', hideCursor: true, clearOnComplete: true, etaBuffer: 20, fps: 5 },
    cliProgress.Presets.shades_classic,
  );
  const t0 = Date.now();
  let started = false;
  return {
    update(t, d) {
      const total = d ?? Math.max(t, 1);
      const speed = t / Math.max((Date.now() - t0) / 1000, 1e-3);
      const payload = { file, done: fmt(t), length: d === null ? '?' : fmt(total), speed: speed.toFixed(1) };
      if (!started) {
        bar.start(total, t, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(t, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
