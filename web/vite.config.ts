import { defineConfig, type Plugin } from 'vite';
import { resolve } from 'node:path';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

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

// Text files worth compressing, and the size under which compressing does not pay (troupe's
// `compress::MIN_BYTES`: such a file fits in one TCP segment either way).
const COMPRESSIBLE = /\.(js|mjs|css|html|svg|json|txt|xml|webmanifest|map)$/;
const MIN_BYTES = 1024;

// After the build, writes `x.br` (brotli, quality 11) and `x.gz` (gzip, level 9) beside every
// text file in dist/, when smaller; troupe serves them as they are to clients that accept them
// (src/http/console.rs), so the console is compressed once, at the best levels, never per request.
function precompress(): Plugin {
  let outDir = 'dist';
  return {
    name: 'troupe-precompress',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    closeBundle() {
      const walk = (dir: string): string[] =>
        readdirSync(dir).flatMap((name) => {
          const path = resolve(dir, name);
          return statSync(path).isDirectory() ? walk(path) : [path];
        });
      for (const path of walk(outDir)) {
        if (!COMPRESSIBLE.test(path)) continue;
        const data = readFileSync(path);
        if (data.length < MIN_BYTES) continue;
        const br = brotliCompressSync(data, {
          params: {
            [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
            [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
          },
        });
        const gz = gzipSync(data, { level: 9 });
        if (br.length < data.length) writeFileSync(`${path}.br`, br);
        if (gz.length < data.length) writeFileSync(`${path}.gz`, gz);
      }
    },
  };
}

export default defineConfig({
  appType: 'spa',
  plugins: [embedRoute(), precompress()],
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
