/** A running stage service of the distributed mode (`vigil ingest|infer|match|broadcast`). */
export interface RunningService {
  readonly name: string;
  /** Facts for the "service ready" log line (never secrets). */
  readonly info: Readonly<Record<string, unknown>>;
  /** Resolves when the service ends by itself (ingest: every file camera ended); the others run until stopped. */
  readonly done: Promise<void>;
  /** The process exit status once done (non-zero: something failed). */
  exitCode(): number;
  /** Counters for /healthz. */
  health(): Record<string, unknown>;
  /** Stops consuming (leaving the group: partitions move to other replicas at once), then disconnects. */
  stop(): Promise<void>;
}

/**
 * Starts a consuming service: the bus, then the stage on it, then waits until the bus has joined its
 * consumer groups. A failure on the way runs `undo` (release what the caller opened) and rethrows.
 */
export async function startOnBus(bus: { start(): Promise<void>; ready(): Promise<void> }, stage: { start(): Promise<void> }, undo: () => Promise<void>): Promise<void> {
  try {
    await bus.start();
    await stage.start();
    await bus.ready();
  } catch (err) {
    await undo();
    throw err;
  }
}

/** A promise that never settles: services that only end when stopped. */
export const never = new Promise<void>(() => {});
