import { createServer, type Server } from 'node:http';
import { test, expect } from './fixtures';

test('/embed/{id} plays inside an iframe on a page of another origin', async ({ page, env }) => {
  // A tiny page on another port of 127.0.0.1: another origin.
  const html = `<!doctype html><html lang="en"><head><title>Another site</title></head><body>
<h1>Another site</h1>
<iframe title="troupe video" src="${env.base}/embed/${env.videos.public}" width="640" height="400" allow="autoplay; fullscreen"></iframe>
</body></html>`;
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const port = (server.address() as { port: number }).port;
  try {
    await page.goto(`http://127.0.0.1:${port}/`);
    const frame = page.frameLocator('iframe[title="troupe video"]');
    await expect(frame.getByRole('link', { name: 'Watch on troupe' })).toHaveAttribute('href', `/watch/${env.videos.public}`);
    await expect
      .poll(
        async () => {
          const f = page.frames().find((x) => x.url().includes('/embed/'));
          return f ? f.evaluate(() => document.querySelector('video')?.currentTime ?? 0) : 0;
        },
        { timeout: 45_000 },
      )
      .toBeGreaterThan(0.3);
  } finally {
    server.close();
  }
});
