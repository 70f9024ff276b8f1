// Bundles the CLI's third-party modules (commander, cli-progress) into
// dist/cli/deps.js, over tsc's output of src/cli/deps.ts: the package's
// dependencies stay the library's, and `vmdev` still runs from the tarball.
import { build } from "esbuild";

const out = new URL("../dist/cli/deps.js", import.meta.url).pathname;
await build({
  entryPoints: [new URL("../src/cli/deps.ts", import.meta.url).pathname],
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  outfile: out,
  allowOverwrite: true,
  // commander and cli-progress are CommonJS: their require() of Node's built-ins needs a real require.
  banner: { js: 'import { createRequire as __vmdevCreateRequire } from "node:module"; const require = __vmdevCreateRequire(import.meta.url);' },
  legalComments: "inline",
  logLevel: "warning",
});
console.log("cli: dist/cli/deps.js (commander, cli-progress bundled)");
