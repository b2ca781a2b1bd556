#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `npm start`, tests and users run the same source.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/main.ts');
