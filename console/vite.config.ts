import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// `vite` (dev server) forwards /api to a running gateway (make run: 127.0.0.1:8000).
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 1500 },
  server: { proxy: { "/api": process.env.MAROPS_GATEWAY_URL ?? "http://127.0.0.1:8000" } },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
