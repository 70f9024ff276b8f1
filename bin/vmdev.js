#!/usr/bin/env node
// The vmdev command. The implementation is built into dist/ by `npm run build`.
import { main } from "../dist/cli.js";

main(process.argv).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(`vmdev: ${err instanceof Error ? err.message : err}`); process.exitCode = 1; },
);
