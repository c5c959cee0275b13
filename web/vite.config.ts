// Builds the console into crates/plugboard/console, which the server serves at `/`. The output
// must be byte-for-byte reproducible (CI rebuilds it and compares): file names are content
// hashes and nothing reads the clock.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const target = process.env.PLUGBOARD_URL ?? "http://127.0.0.1:8080";
const proxied = ["/api", "/plugins", "/hooks", "/mcp", "/livez", "/readyz"];

export default defineConfig({
  base: "/",
  plugins: [react()],
  build: {
    outDir: "../crates/plugboard/console",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    target: "es2022",
    // Small assets stay files: CSP forbids nothing here, but data: URLs in CSS would need
    // img-src data: and hide what is loaded.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 600,
  },
  server: {
    port: 5173,
    proxy: Object.fromEntries(
      proxied.map((path) => [path, { target, changeOrigin: false, ws: path === "/api" || path === "/mcp" }]),
    ),
  },
});
