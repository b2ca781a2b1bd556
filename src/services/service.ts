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

/** A promise that never settles: services that only end when stopped. */
export const never = new Promise<void>(() => {});
