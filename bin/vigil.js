#!/usr/bin/env -S node --initial-old-space-size=128
// Runs the TypeScript CLI through tsx, so `npm start`, tests and users run the same source.
// --initial-old-space-size (a launch flag: V8 reads it when the heap is made; NODE_OPTIONS refuses
// it): without it V8 keeps the old generation's limit at ~1.5x a small live heap and, with 2.7 MB
// frames going through, runs several mark-compacts a second that free nothing (quiet-scene replay:
// 129-139 in 17 s, CPU 17.3-17.9 ms a frame; with it 4 and 10.8-11.2 ms). Every launcher passes it
// (package.json scripts, Dockerfile); `node bin/vigil.js` without it works, slower.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/main.ts');
