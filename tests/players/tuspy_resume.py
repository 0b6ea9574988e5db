#!/usr/bin/env python3
"""Uploads a file with tuspy (PyPI `tuspy`, module `tusclient`), unchanged.

    python3 tests/players/tuspy_resume.py --endpoint URL --token T --file F --video-id ID \
        --storage urls.json [--stop-at N] [--checksum]

Each run is a new TusClient and a new uploader. With `store_url=True` and a `FileStorage`, an
upload of the same file that a previous run began is found by its fingerprint and resumed from
the offset the server reports (HEAD). `--stop-at N` stops deliberately after N bytes (tuspy's
`upload(stop_at=N)`); `--checksum` sends `Upload-Checksum: sha1 ...` with every chunk.

Prints one JSON line: {url, size, resumed, offset_at_start, offset, checksum}.
Exits 3 when tuspy is missing.
"""
import argparse
import json
import os
import sys

try:
    from tusclient import client
    from tusclient.storage.filestorage import FileStorage
except ImportError as e:  # pragma: no cover - the message is the point
    print(f"the PyPI package tuspy (module tusclient) is missing ({e}): "
          "run scripts/test.sh, which installs it", file=sys.stderr)
    sys.exit(3)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--video-id", required=True)
    p.add_argument("--storage", required=True)
    p.add_argument("--stop-at", type=int, default=None)
    p.add_argument("--checksum", action="store_true")
    a = p.parse_args()

    storage = FileStorage(a.storage)
    tus = client.TusClient(a.endpoint, headers={"Authorization": f"Bearer {a.token}"})
    uploader = tus.uploader(
        file_path=a.file,
        chunk_size=256 * 1024,
        metadata={"video_id": a.video_id, "filename": "x.mp4"},
        store_url=True,
        url_storage=storage,
        upload_checksum=a.checksum,
    )
    # Set by the constructor: the stored URL (if any) and the server's offset for it.
    resumed = uploader.url is not None
    offset_at_start = uploader.offset
    uploader.upload(stop_at=a.stop_at)
    storage.close()
    print(json.dumps({
        "url": uploader.url,
        "size": os.path.getsize(a.file),
        "resumed": resumed,
        "offset_at_start": offset_at_start,
        "offset": uploader.offset,
        "checksum": a.checksum,
    }))


if __name__ == "__main__":
    main()
