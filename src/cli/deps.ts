// The CLI's third-party modules, in one place: the build bundles this file
// (scripts/build-cli.mjs), so a library user installs neither.
export { Command, CommanderError, Option } from "commander";
export { default as cliProgress } from "cli-progress";
