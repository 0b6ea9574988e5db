import { defineConfig, type Plugin } from 'vite';
import { resolve } from 'node:path';

// Where `npm run dev` / `npm run preview` send /api and /hls: a running troupe.
const target = process.env.TROUPE_URL ?? 'http://127.0.0.1:18080';
const proxy = {
  '/api': { target, changeOrigin: false },
  '/hls': { target, changeOrigin: false },
};

// In dev and preview, mimic what the troupe binary does with the console's routes: /embed/{id}
// answers embed.html, every other non-/api, non-/hls path answers index.html (Vite's own
// SPA fallback covers the latter).
function embedRoute(): Plugin {
  const rewrite = (url: string | undefined) =>
    url && /^\/embed\/[^/?]+\/?(\?.*)?$/.test(url) ? '/embed.html' : url;
  return {
    name: 'troupe-embed-route',
    configureServer(server) {
      server.middlewares.use((req, _res, next) => {
        req.url = rewrite(req.url);
        next();
      });
    },
    configurePreviewServer(server) {
      server.middlewares.use((req, _res, next) => {
        req.url = rewrite(req.url);
        next();
      });
    },
  };
}

export default defineConfig({
  appType: 'spa',
  plugins: [embedRoute()],
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // The binary embeds dist/: keep file names content-hashed so they can be cached forever.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: {
        index: resolve(import.meta.dirname, 'index.html'),
        embed: resolve(import.meta.dirname, 'embed.html'),
      },
    },
  },
  server: { host: '127.0.0.1', port: 5173, strictPort: false, proxy },
  preview: { host: '127.0.0.1', port: 4173, strictPort: false, proxy },
});
