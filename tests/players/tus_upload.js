#!/usr/bin/env node
// Uploads a file with tus-js-client (unchanged, Node build) in 256 KiB chunks, resuming a
// previous upload of the same file found in a JSON url storage (FileUrlStorage) if there is one.
//
//   node tests/players/tus_upload.js <endpoint> <token> <file> <video_id> \
//        [--storage <urls.json>] [--abort-at <fraction>]
//
// With --abort-at 0.4 it stops (without terminating the upload) once the server has accepted
// 40 % of the file. Prints one JSON line: {url, size, offset, aborted, complete, resumed,
// previousUploads, requests: [{method, uploadOffset, status, responseOffset}], storedAfter}.
// Exits non-zero on an upload error (3 when tus-js-client is missing).
'use strict';
const fs = require('fs');

let tus;
try {
  tus = require('tus-js-client');
} catch (e) {
  console.error('the npm package tus-js-client (tests/players/node_modules) is missing: run scripts/test.sh, which installs it');
  process.exit(3);
}

const positional = [];
const flags = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i].startsWith('--')) flags[argv[i].slice(2)] = argv[++i];
  else positional.push(argv[i]);
}
const [endpoint, token, file, videoId] = positional;
if (!videoId) {
  console.error('usage: tus_upload.js <endpoint> <token> <file> <video_id> [--storage f] [--abort-at x]');
  process.exit(64);
}
const storagePath = flags.storage || `${file}.tus-urls.json`;
const abortAt = flags['abort-at'] ? Number(flags['abort-at']) : null;
const size = fs.statSync(file).size;

(async () => {
  const storage = new tus.FileUrlStorage(storagePath);
  const requests = [];
  let done;
  const finished = new Promise((resolve, reject) => { done = { resolve, reject }; });
  const upload = new tus.Upload(fs.createReadStream(file), {
    endpoint,
    chunkSize: 256 * 1024,
    headers: { Authorization: `Bearer ${token}` },
    metadata: { video_id: videoId, filename: 'clip.mp4', filetype: 'video/mp4' },
    urlStorage: storage,
    removeFingerprintOnSuccess: true,
    retryDelays: [0, 500, 1000],
    onAfterResponse(req, res) {
      const off = res.getHeader('Upload-Offset');
      requests.push({
        method: req.getMethod(),
        uploadOffset: req.getHeader('Upload-Offset') == null ? null : Number(req.getHeader('Upload-Offset')),
        status: res.getStatus(),
        responseOffset: off == null ? null : Number(off),
      });
    },
    onChunkComplete(_chunk, accepted, total) {
      if (abortAt != null && accepted < total && accepted >= abortAt * total) {
        upload.abort(false).then(() => done.resolve({ aborted: true, offset: accepted }), done.reject);
      }
    },
    onSuccess() { done.resolve({ aborted: false, offset: size }); },
    onError(err) { done.reject(err); },
  });
  const previous = await upload.findPreviousUploads();
  if (previous.length > 0) upload.resumeFromPreviousUpload(previous[0]);
  upload.start();
  const result = await finished;
  // The url is stored after the creation POST, and removed after success, without waiting:
  // let that reach the disk before this process ends (the next run reads it).
  let stored = [];
  for (let i = 0; i < 50; i++) {
    stored = await upload.findPreviousUploads();
    if (result.aborted ? stored.length > 0 : stored.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  console.log(JSON.stringify({
    url: upload.url,
    size,
    offset: result.offset,
    aborted: result.aborted,
    complete: !result.aborted && result.offset === size,
    resumed: previous.length > 0,
    previousUploads: previous.length,
    requests,
    storedAfter: stored.length,
  }));
  process.exit(0);
})().catch((e) => {
  console.error(`tus_upload.js: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
