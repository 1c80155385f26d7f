// The console's end-to-end suite: real headless Chromium (Debian's `chromium`, never a
// downloaded browser) against a running platform behind the gateway (CONSOLE_URL).
// tests/e2e/test_console_journey.py starts the platform and runs this.
import { defineConfig } from "@playwright/test";

const artifacts = process.env.CONSOLE_ARTIFACTS ?? "artifacts";

export default defineConfig({
  testDir: "e2e",
  workers: 1,
  timeout: 240_000,
  expect: { timeout: 30_000 },
  reporter: [["list"]],
  outputDir: `${artifacts}/test-results`,
  use: {
    baseURL: process.env.CONSOLE_URL,
    viewport: { width: 1280, height: 900 },
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: ["--no-sandbox"] },
    screenshot: "only-on-failure",
    trace: "off",
  },
});
