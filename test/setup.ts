import { afterAll } from 'vitest';
import { removeTempDirs } from './helpers.js';

// Registered before the test file's own hooks, so it runs after them (hooks unwind as a stack): the
// file's servers and child processes are stopped before their folders go.
afterAll(removeTempDirs);
