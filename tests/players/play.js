#!/usr/bin/env node
// Plays an HLS master playlist to the end with hls.js in headless Debian Chromium.
//
//   node tests/players/play.js <master_url> [--pin-top]
//
// Prints one JSON line: {levels, errors, fatal, ended, currentTime, duration, videoHeight,
// levelsPlayed, codecs, fragments, decodedFrames, droppedFrames, timedOut, console}.
// Exits 0 only when the video ended without a fatal error; 1 on a fatal error, 2 on a timeout
// (duration + 30 s, or 30 s without a duration), 3 when a tool is missing.
//
// Debian's chromium (not Playwright's own build, which has no H.264) at $CHROMIUM or
// /usr/bin/chromium; hls.js and playwright-core from ./node_modules. scripts/test.sh installs all.
'use strict';
const fs = require('fs');
const path = require('path');

function missing(what) {
  console.error(`${what} is missing: run scripts/test.sh, which installs it`);
  process.exit(3);
}

const args = process.argv.slice(2);
const masterUrl = args.find((a) => !a.startsWith('--'));
const pinTop = args.includes('--pin-top');
if (!masterUrl) {
  console.error('usage: play.js <master_url> [--pin-top]');
  process.exit(64);
}
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(chromiumPath)) missing(`Debian's chromium (${chromiumPath})`);
let chromium;
let hlsPath;
try {
  ({ chromium } = require('playwright-core'));
} catch (e) {
  missing('the npm package playwright-core (tests/players/node_modules)');
}
try {
  hlsPath = require.resolve('hls.js/dist/hls.min.js');
} catch (e) {
  missing('the npm package hls.js (tests/players/node_modules)');
}

(async () => {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--disable-dev-shm-usage'],
  });
  let report;
  let timedOut = false;
  const consoleLines = [];
  try {
    const page = await browser.newPage();
    page.on('console', (m) => { if (m.type() === 'error') consoleLines.push(m.text()); });
    page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
    await page.goto('file://' + path.join(__dirname, 'player.html'));
    await page.addScriptTag({ path: hlsPath });
    await page.evaluate(([url, opts]) => window.startPlayer(url, opts), [masterUrl, { pinTop }]);
    const started = Date.now();
    for (;;) {
      report = await page.evaluate(() => window.report);
      if (report.done) break;
      const d = Number.isFinite(report.duration) && report.duration > 0 ? report.duration : 0;
      if (Date.now() - started > (d + 30) * 1000) {
        timedOut = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await browser.close();
  }
  const out = { ...report, timedOut, console: consoleLines };
  delete out.done;
  console.log(JSON.stringify(out));
  process.exit(out.fatal ? 1 : timedOut || !out.ended ? 2 : 0);
})().catch((e) => {
  console.error(`play.js: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
