import { parentPort, workerData } from 'node:worker_threads';
import type { RgbImage } from '../contracts/messages.js';
import { FaceEngine } from './engine.js';
import type { WorkerRequest, WorkerResponse, WorkerSetup } from './remote-engine.js';

/**
 * An inference worker thread: its own FaceEngine (own onnxruntime sessions), serving detect and
 * embed requests from the inference stage. onnxruntime-node runs a session on the calling thread,
 * so sessions in one thread take turns; threads are what puts the other cores to work.
 */
const setup = workerData as WorkerSetup;
const port = parentPort!;
const engine = await FaceEngine.open(setup.profile, setup.files, setup.session, setup.options);

async function handle(r: WorkerRequest): Promise<unknown> {
  switch (r.op) {
    case 'detect':
      return engine.detect(r.image);
    case 'detectCrops':
      return engine.detectCrops(r.crops);
    case 'embed':
      return engine.embed(r.aligned as RgbImage[]);
    case 'embedPlain':
      return engine.embedPlain(r.aligned as RgbImage[]);
    case 'addFlip':
      return engine.addFlip(r.aligned as RgbImage[], r.plain as Float32Array[]);
    case 'close':
      // Never release the sessions under a running model: wait for the calls still in flight.
      await Promise.allSettled([...inflight]);
      await engine.close();
      return null;
  }
}

/** Calls being served (messages are handled concurrently; close waits for these). */
const inflight = new Set<Promise<unknown>>();

port.on('message', (r: WorkerRequest) => {
  const call = handle(r);
  if (r.op !== 'close') {
    inflight.add(call);
    void call.finally(() => inflight.delete(call)).catch(() => undefined);
  }
  call.then(
    (result) => {
      const buffers = Array.isArray(result) ? result.filter((x): x is Float32Array => x instanceof Float32Array).map((x) => x.buffer as ArrayBuffer) : [];
      port.postMessage({ id: r.id, result } satisfies WorkerResponse, buffers);
      if (r.op === 'close') port.close();
    },
    (err: unknown) => port.postMessage({ id: r.id, error: (err as Error).message } satisfies WorkerResponse),
  );
});
port.postMessage({ id: 0, result: 'ready' } satisfies WorkerResponse);
