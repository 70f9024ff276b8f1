import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Watchdogs against hangs only: CI machines are shared, and a test that takes 20 s on a quiet one
    // can take three times as long on a busy one. Tests assert on events, never on these.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: "forks",
  },
});
