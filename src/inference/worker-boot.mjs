// Entry of an inference worker thread: the TypeScript sources run through tsx, as in the main thread (bin/vigil.js).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
