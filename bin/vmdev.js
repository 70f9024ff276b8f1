#!/usr/bin/env node
// The vmdev command. The implementation is built into dist/ by `npm run build`.
import { cli } from "../dist/cli.js";

process.exitCode = await cli(process.argv);
