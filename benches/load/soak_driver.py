#!/usr/bin/env python3
"""The load and the bookkeeping of benches/load/soak.sh (run by it, not by hand).

Drives one running troupe node with a steady mix for SOAK_MINUTES: several users, each from its
own loopback address (127.0.0.10, .11, ...), playing videos with heartbeats, rating, searching,
listing and holding server-sent event streams open; one uploader adding a clip with tus every
few seconds and retiring (deleting) the oldest, so that the library, and with it the set of
live actors, stays the same size. Every minute it samples the server process (RSS, open files
by kind, threads, CPU), the actor gauges from /metrics and the load average, and prints one row
with the p99, count and errors of every endpoint in that minute. At the end it prints the
verdict against the goal in the issue. See benches/load/README.md.
"""

import argparse
import asyncio
import base64
import csv
import math
import os
import random
import re
import sys
import time
from urllib.parse import urljoin

import aiohttp

# The endpoints, in the order of the table. Each request the driver makes is counted under one.
ENDPOINTS = [
    ("heartbeat", "POST /api/v1/playback/sessions/{id}/heartbeat"),
    ("session", "POST /api/v1/playback/sessions"),
    ("end", "DELETE /api/v1/playback/sessions/{id}"),
    ("master", "GET /hls/{id}/master.m3u8"),
    ("media_pl", "GET /hls/.../{rendition}/index.m3u8 (media playlist)"),
    ("segment", "GET /hls/.../seg_N.ts"),
    ("rating", "PUT /api/v1/videos/{id}/rating"),
    ("search", "GET /api/v1/search?q="),
    ("suggest", "GET /api/v1/search/suggest?q="),
    ("list", "GET /api/v1/videos"),
    ("video", "GET /api/v1/videos/{id}"),
    ("trending", "GET /api/v1/videos/trending"),
    ("sse_open", "GET /api/v1/videos/{id}/events: time to the first event"),
    ("sse_drop", "an event stream that ended without `deleted` before the driver closed it"),
    ("create", "POST /api/v1/videos"),
    ("tus_post", "POST /api/v1/uploads (tus creation)"),
    ("tus_patch", "PATCH /api/v1/uploads/{id}"),
    ("tus_head", "HEAD /api/v1/uploads/{id}"),
    ("ready", "last PATCH -> `video` event with state ready (transcode wait, not a request)"),
    ("delete", "DELETE /api/v1/videos/{id}"),
    ("refresh", "POST /api/v1/auth/refresh"),
]
EP_KEYS = [k for k, _ in ENDPOINTS]

WORDS = (
    "harbour lantern meadow quartz falcon ember glacier orchard violet canyon thunder pepper "
    "marble willow saffron compass velvet granite nectar cobalt summit river sparrow tundra "
    "cinder lagoon juniper mosaic prairie walnut"
).split()

# The server's default per-user limit is 20 requests/s (burst 60) and its per-address one
# 50/s (burst 100): each user here makes about 1.5 requests/s from its own address.


def now():
    return time.monotonic()


# Tasks started along the way (uploads, deletions): cancelled with the rest at the end, so that
# closing the clients cannot fail a request that is still under way.
SPAWNED = set()


# The distinct HLS blobs fetched (video, rendition, file -> bytes): what troupe's in-memory
# segment cache (media.segment_cache_bytes, 256 MiB by default) has taken in so far, since a
# deleted video's blobs leave it only when evicted.
HLS_SEEN = {}
SKIPPED = {"uploads": 0}


def hls_seen(url, body):
    key = re.sub(r"/t/[^/]+", "", url.split("?")[0].split("/hls/", 1)[-1])
    HLS_SEEN[key] = len(body)


def spawn(coro):
    task = asyncio.get_running_loop().create_task(coro)
    SPAWNED.add(task)
    task.add_done_callback(SPAWNED.discard)
    return task


def p99(values):
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(0.99 * len(s)) - 1)]


def pct(values, q):
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]


class Stats:
    """Latencies, counts and errors per endpoint and minute (minute 0 is the setup)."""

    def __init__(self, t0_holder, errors_path):
        self.t0 = t0_holder  # list with one element: the start of minute 1 (None during setup)
        self.by_minute = {}  # minute -> ep -> [latencies ms], errors
        self.errors_file = open(errors_path, "w", buffering=1)
        self.printed_errors = 0

    def minute_of(self, t):
        if self.t0[0] is None or t < self.t0[0]:
            return 0
        return int((t - self.t0[0]) // 60) + 1

    def bucket(self, minute, ep):
        m = self.by_minute.setdefault(minute, {})
        return m.setdefault(ep, {"lat": [], "err": 0})

    def ok(self, ep, ms):
        self.bucket(self.minute_of(now()), ep)["lat"].append(ms)

    def error(self, ep, detail):
        minute = self.minute_of(now())
        self.bucket(minute, ep)["err"] += 1
        line = f"{time.strftime('%H:%M:%S')} minute {minute} {ep}: {detail}"
        self.errors_file.write(line + "\n")
        if self.printed_errors < 20:
            self.printed_errors += 1
            print(f"  ERROR {line}", file=sys.stderr, flush=True)


class Library:
    """The ready videos players may pick, oldest first."""

    def __init__(self):
        self.videos = []  # (id, owner User, title)
        self.changed = asyncio.Event()

    def pick(self):
        return random.choice(self.videos)[0] if self.videos else None


class User:
    def __init__(self, i, base, stats, args):
        self.i = i
        self.name = f"soak{i}"
        self.password = f"Soak-{i}-quartz-falcon-17"
        self.ip = f"127.0.0.{10 + i}"
        self.base = base
        self.stats = stats
        self.args = args
        self.access = None
        self.refresh_token = None
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                local_addr=(self.ip, 0),
                limit=16,
                # actix closes an idle keep-alive connection after 5 s: reusing one the server
                # is closing races, so the client lets go first.
                keepalive_timeout=2,
            ),
            timeout=aiohttp.ClientTimeout(total=30),
        )
        self.sse = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(self.ip, 0), limit=0, force_close=True),
            # The server sends a keep-alive comment every 15 s.
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=45),
        )

    def auth(self, extra=None):
        h = {"Authorization": f"Bearer {self.access}"}
        if extra:
            h.update(extra)
        return h

    async def call(self, ep, method, url, expect, read="json", **kw):
        """One request; its latency (to the last byte of the body) counts under `ep`.
        Returns (status, body, headers), or None when it failed (counted as an error)."""
        if not url.startswith("http"):
            url = self.base + url
        t = now()
        try:
            async with self.http.request(method, url, **kw) as r:
                if read == "json" and r.status in expect and r.content_type.endswith("json"):
                    body = await r.json()
                elif read == "bytes":
                    body = await r.read()
                else:
                    body = await r.text()
                ms = (now() - t) * 1000
                if r.status not in expect:
                    text = body if isinstance(body, str) else repr(body)[:200]
                    self.stats.error(ep, f"{method} {url.split('?')[0]} -> {r.status} {text[:300]}")
                    return None
                self.stats.ok(ep, ms)
                return r.status, body, r.headers
        except asyncio.CancelledError:
            raise
        except Exception as e:  # transport errors, timeouts, bad JSON
            self.stats.error(ep, f"{method} {url.split('?')[0]} -> {type(e).__name__}: {e}")
            return None

    # -- accounts ---------------------------------------------------------------------------

    async def register_and_login(self):
        async with self.http.post(
            self.base + "/api/v1/auth/register",
            json={"username": self.name, "email": f"{self.name}@example.org", "password": self.password},
        ) as r:
            if r.status != 201:
                raise SystemExit(f"register {self.name}: {r.status} {await r.text()}")
        async with self.http.post(
            self.base + "/api/v1/auth/login", json={"username": self.name, "password": self.password}
        ) as r:
            body = await r.json()
            if r.status != 200:
                raise SystemExit(f"login {self.name}: {r.status} {body}")
        self.access, self.refresh_token = body["access_token"], body["refresh_token"]

    async def refresher(self):
        """Access tokens live 15 min: refresh every 10 (rotating the refresh token)."""
        while True:
            await asyncio.sleep(600 + random.uniform(0, 30))
            res = await self.call(
                "refresh", "POST", "/api/v1/auth/refresh", {200}, json={"refresh_token": self.refresh_token}
            )
            if res:
                self.access, self.refresh_token = res[1]["access_token"], res[1]["refresh_token"]

    # -- playback ---------------------------------------------------------------------------

    async def player(self, lib):
        device = f"soak-dev-{self.i}"
        hb = self.args.heartbeat_secs
        await asyncio.sleep(random.uniform(0, hb))
        while True:
            vid = lib.pick()
            if vid is None:
                await asyncio.sleep(1)
                continue
            res = await self.call(
                "session", "POST", "/api/v1/playback/sessions", {201},
                headers=self.auth(), json={"video_id": vid, "device_id": device},
            )
            if not res:
                await asyncio.sleep(hb)
                continue
            grant = res[1]
            sid = grant["session_id"]
            master_url = urljoin(self.base + "/", grant["master_url"])
            res = await self.call("master", "GET", master_url, {200}, read="text")
            segments, duration = [], 0.0
            if res:
                variants = [l for l in res[1].splitlines() if l and not l.startswith("#")]
                if variants:
                    media_url = urljoin(master_url, random.choice(variants))
                    res = await self.call("media_pl", "GET", media_url, {200}, read="text")
                    if res:
                        hls_seen(media_url, res[1].encode())
                        lines = res[1].splitlines()
                        for j, line in enumerate(lines):
                            if line.startswith("#EXTINF:"):
                                d = float(line[8:].split(",")[0])
                                duration += d
                                uri = next((x for x in lines[j + 1:] if x and not x.startswith("#")), None)
                                if uri:
                                    segments.append((urljoin(media_url, uri), d))
            pos = float(grant.get("resume_position") or 0.0)
            if duration <= 0:
                duration = 1.0
            if pos >= duration - 1:
                pos = 0.0
            fetched = None

            async def fetch_segment_at(p):
                nonlocal fetched
                acc = 0.0
                for k, (u, d) in enumerate(segments):
                    if p < acc + d or k == len(segments) - 1:
                        if fetched != k:
                            fetched = k
                            res = await self.call("segment", "GET", u, {200}, read="bytes")
                            if res:
                                hls_seen(u, res[1])
                        return
                    acc += d

            await fetch_segment_at(pos)
            watch_until = now() + random.uniform(self.args.watch_min, self.args.watch_max)
            last = now()
            while now() < watch_until:
                await asyncio.sleep(hb + random.uniform(-0.5, 0.5))
                pos += now() - last
                last = now()
                if pos > duration:  # the player loops
                    pos = pos % duration
                    fetched = None
                await self.call(
                    "heartbeat", "POST", f"/api/v1/playback/sessions/{sid}/heartbeat", {200},
                    headers=self.auth(), json={"position": round(min(pos, duration), 3)},
                )
                await fetch_segment_at(pos)
            r = random.random()
            if r < 0.8:
                await self.call("end", "DELETE", f"/api/v1/playback/sessions/{sid}", {204}, headers=self.auth())
                await asyncio.sleep(random.uniform(1, 8))
            elif r < 0.9:
                # Walk away without ending: the next session on this device replaces the stream.
                await asyncio.sleep(random.uniform(1, 8))
            else:
                # Walk away for longer than playback.stream_timeout_secs (120 s): the stream
                # expires on its own.
                await asyncio.sleep(130)

    # -- ratings, browsing ------------------------------------------------------------------

    async def rater(self, lib):
        while True:
            await asyncio.sleep(random.uniform(2, 5))
            vid = lib.pick()
            if vid:
                await self.call(
                    "rating", "PUT", f"/api/v1/videos/{vid}/rating", {200},
                    headers=self.auth(), json={"rating": random.choice(["like", "dislike", "none"])},
                )

    async def browser(self, lib):
        while True:
            await asyncio.sleep(random.uniform(1.5, 4))
            r = random.random()
            if r < 0.5:
                words = random.sample(WORDS, random.choice([1, 1, 2]))
                if random.random() < 0.2:  # a typo: two letters swapped
                    w = list(words[0])
                    k = random.randrange(1, len(w) - 1)
                    w[k], w[k + 1] = w[k + 1], w[k]
                    words[0] = "".join(w)
                sort = random.choice(["relevance", "relevance", "newest", "views"])
                await self.call(
                    "search", "GET", "/api/v1/search", {200},
                    headers=self.auth(), params={"q": " ".join(words), "sort": sort, "limit": "20"},
                )
            elif r < 0.7:
                res = await self.call("list", "GET", "/api/v1/videos", {200}, headers=self.auth(), params={"limit": "12"})
                if res and res[1].get("next_cursor") and random.random() < 0.3:
                    await self.call(
                        "list", "GET", "/api/v1/videos", {200}, headers=self.auth(),
                        params={"limit": "12", "cursor": res[1]["next_cursor"]},
                    )
            elif r < 0.85:
                vid = lib.pick()
                if vid:
                    await self.call("video", "GET", f"/api/v1/videos/{vid}", {200}, headers=self.auth())
            elif r < 0.95:
                w = random.choice(WORDS)
                await self.call(
                    "suggest", "GET", "/api/v1/search/suggest", {200},
                    headers=self.auth(), params={"q": w[: random.randint(2, 4)], "limit": "5"},
                )
            else:
                await self.call(
                    "trending", "GET", "/api/v1/videos/trending", {200},
                    headers=self.auth(), params={"window": random.choice(["1h", "24h"]), "limit": "10"},
                )

    # -- event streams ----------------------------------------------------------------------

    async def open_events(self, vid):
        """Opens the video's event stream; returns (response, first event) or None (an error)."""
        t = now()
        try:
            r = await self.sse.get(f"{self.base}/api/v1/videos/{vid}/events", headers=self.auth())
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.stats.error("sse_open", f"GET events -> {type(e).__name__}: {e}")
            return None
        if r.status != 200:
            self.stats.error("sse_open", f"GET events -> {r.status} {(await r.text())[:300]}")
            r.release()
            return None
        try:
            ev = await read_event(r)
        except asyncio.CancelledError:
            r.close()
            raise
        except Exception as e:
            self.stats.error("sse_open", f"first event -> {type(e).__name__}: {e}")
            r.close()
            return None
        if ev is None or ev[0] != "video":
            self.stats.error("sse_open", f"first event was {ev!r}")
            r.close()
            return None
        self.stats.ok("sse_open", (now() - t) * 1000)
        return r, ev

    async def subscriber(self, lib, counters):
        await asyncio.sleep(random.uniform(0, 10))
        while True:
            vid = lib.pick()
            if vid is None:
                await asyncio.sleep(1)
                continue
            opened = await self.open_events(vid)
            if not opened:
                await asyncio.sleep(2)
                continue
            r, _ = opened
            counters["open"] += 1
            hold = random.uniform(self.args.sse_hold_min, self.args.sse_hold_max)
            try:
                deadline = now() + hold
                while True:
                    left = deadline - now()
                    if left <= 0:
                        break
                    try:
                        ev = await asyncio.wait_for(read_event(r), timeout=left)
                    except asyncio.TimeoutError:
                        break
                    except asyncio.CancelledError:
                        raise
                    except Exception as e:
                        self.stats.error("sse_drop", f"{vid}: {type(e).__name__}: {e}")
                        break
                    if ev is None:
                        self.stats.error("sse_drop", f"{vid}: the stream ended without `deleted`")
                        break
                    counters["events"] += 1
                    if ev[0] == "deleted":  # a retired video: expected, pick another
                        counters["deleted"] += 1
                        break
            finally:
                counters["open"] -= 1
                r.close()  # the client goes away; the server must notice
            await asyncio.sleep(random.uniform(0.5, 5))


async def read_event(r):
    """The next server-sent event as (name, data), skipping comments; None at the end."""
    name, data = None, []
    while True:
        line = await r.content.readline()
        if not line:
            return None
        line = line.decode().rstrip("\r\n")
        if line == "":
            if name or data:
                return name or "message", "\n".join(data)
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)


# -- uploads ----------------------------------------------------------------------------------


async def upload(user, clip, seq, stats):
    """Creates a video and uploads the clip with tus in two PATCHes (HEAD between them); waits
    on the video's event stream until it is ready. Returns (id, title) or None."""
    title = " ".join(random.sample(WORDS, 3)) + f" clip {seq}"
    res = await user.call(
        "create", "POST", "/api/v1/videos", {201}, headers=user.auth(),
        json={"title": title, "description": f"soak clip {seq}: " + " ".join(random.sample(WORDS, 8)),
              "tags": random.sample(WORDS, 2), "visibility": "public"},
    )
    if not res:
        return None
    vid = res[1]["id"]
    b64 = lambda s: base64.b64encode(s.encode()).decode()
    tus = {"Tus-Resumable": "1.0.0"}
    res = await user.call(
        "tus_post", "POST", "/api/v1/uploads", {201}, read="text",
        headers=user.auth({**tus, "Upload-Length": str(len(clip)),
                           "Upload-Metadata": f"video_id {b64(vid)},filename {b64(f'soak{seq}.mp4')}"}),
    )
    if not res:
        return None
    loc = urljoin(user.base + "/api/v1/uploads", res[2]["Location"])
    half = len(clip) // 2
    patch_h = {**tus, "Content-Type": "application/offset+octet-stream"}
    res = await user.call(
        "tus_patch", "PATCH", loc, {204}, read="text",
        headers=user.auth({**patch_h, "Upload-Offset": "0"}), data=clip[:half],
    )
    if not res:
        return None
    res = await user.call("tus_head", "HEAD", loc, {200}, read="text", headers=user.auth(tus))
    if not res:
        return None
    if res[2].get("Upload-Offset") != str(half):
        stats.error("tus_head", f"Upload-Offset {res[2].get('Upload-Offset')} after {half} bytes")
        return None
    # The console does the same: it watches the video's event stream for the transcode.
    opened = await user.open_events(vid)
    res = await user.call(
        "tus_patch", "PATCH", loc, {204}, read="text",
        headers=user.auth({**patch_h, "Upload-Offset": str(half)}), data=clip[half:],
    )
    if not res:
        if opened:
            opened[0].close()
        return None
    if not opened:
        return None
    r, ev = opened
    t = now()
    try:
        deadline = t + 600
        while True:
            state = None
            if ev and ev[0] == "video":
                m = re.search(r'"state"\s*:\s*"([a-z_]+)"', ev[1])
                state = m.group(1) if m else None
            if state == "ready":
                stats.ok("ready", (now() - t) * 1000)
                return vid, title
            if state == "failed":
                stats.error("ready", f"{vid} failed: {ev[1][:300]}")
                return None
            try:
                ev = await asyncio.wait_for(read_event(r), timeout=max(0.1, deadline - now()))
            except asyncio.TimeoutError:
                stats.error("ready", f"{vid} not ready within 600 s")
                return None
            if ev is None:
                stats.error("ready", f"{vid}: the event stream ended before ready")
                return None
    except asyncio.CancelledError:
        raise
    except Exception as e:
        stats.error("ready", f"{vid}: {type(e).__name__}: {e}")
        return None
    finally:
        r.close()


async def uploader(users, lib, clip, stats, args, seq0):
    """A tus upload every args.upload_every s (fixed rate); once the library holds more than
    args.library videos, the oldest leaves the pool and is deleted args.retire_grace s later
    (after any stream, rating or subscription that picked it has moved on)."""
    seq = [seq0]
    running = set()

    async def one():
        seq[0] += 1
        owner = users[seq[0] % len(users)]
        got = await upload(owner, clip, seq[0], stats)
        if got:
            lib.videos.append((got[0], owner, got[1]))
            while len(lib.videos) > args.library:
                old_id, old_owner, _ = lib.videos.pop(0)
                spawn(retire(old_owner, old_id, args.retire_grace))

    t = now()
    while True:
        t += args.upload_every
        await asyncio.sleep(max(0, t - now()))
        if len(running) >= 3:
            # Transcodes (one at a time by default) lag behind: skip this one rather than pile
            # up. Not an error of the server's; counted and reported.
            SKIPPED["uploads"] += 1
            continue
        task = spawn(one())
        running.add(task)
        task.add_done_callback(running.discard)


async def retire(owner, vid, grace):
    await asyncio.sleep(grace)
    await owner.call("delete", "DELETE", f"/api/v1/videos/{vid}", {204}, read="text", headers=owner.auth())


# -- sampling ---------------------------------------------------------------------------------


def read_proc(pid, data_dir):
    st = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                st[k] = int(v.split()[0])
    kinds = {"socket": 0, "file": 0, "pipe": 0, "anon": 0}
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            tgt = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        targets.append(tgt)
        if tgt.startswith("socket:"):
            kinds["socket"] += 1
        elif tgt.startswith("pipe:"):
            kinds["pipe"] += 1
        elif tgt.startswith("anon_inode:"):
            kinds["anon"] += 1
        else:
            kinds["file"] += 1
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu_ticks = int(fields[11]) + int(fields[12])
    return st, kinds, targets, cpu_ticks


def fd_summary(targets, data_dir):
    """fd targets grouped: sockets, pipes, anon inodes by name, files by directory under the
    data dir."""
    groups = {}
    for t in targets:
        if t.startswith("socket:"):
            k = "socket"
        elif t.startswith("pipe:"):
            k = "pipe"
        elif t.startswith("anon_inode:"):
            k = t
        elif t.startswith(data_dir):
            rel = t[len(data_dir):].lstrip("/")
            parts = rel.split("/")
            k = "data/" + "/".join(parts[:2]) if len(parts) > 2 else "data/" + rel
        else:
            k = t
        groups[k] = groups.get(k, 0) + 1
    return groups


def parse_metrics(text):
    actors, gauges = {}, {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r'troupe_actors_active\{[^}]*kind="([^"]+)"[^}]*\}\s+(\S+)', line)
        if m:
            actors[m.group(1)] = actors.get(m.group(1), 0) + float(m.group(2))
            continue
        for g in ("troupe_sse_subscribers", "troupe_playback_streams_active", "troupe_transcodes_running",
                  "troupe_hls_cache_bytes", "troupe_hls_cache_entries"):
            if line.startswith(g + " ") or line.startswith(g + "{"):
                gauges[g] = gauges.get(g, 0) + float(line.rsplit(None, 1)[1])
    return actors, gauges


async def scrape(http, base):
    try:
        async with http.get(base + "/metrics") as r:
            return await r.text() if r.status == 200 else ""
    except Exception:
        return ""


# -- main -------------------------------------------------------------------------------------


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--clip", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=int, default=30)
    ap.add_argument("--baseline-minute", type=int, default=5)
    ap.add_argument("--steady-minute", type=int, default=8)
    ap.add_argument("--users", type=int, default=12)
    ap.add_argument("--sse-per-user", type=int, default=2)
    ap.add_argument("--library", type=int, default=16)
    ap.add_argument("--upload-every", type=float, default=20.0)
    ap.add_argument("--retire-grace", type=float, default=75.0)
    ap.add_argument("--heartbeat-secs", type=float, default=5.0)
    ap.add_argument("--watch-min", type=float, default=20.0)
    ap.add_argument("--watch-max", type=float, default=60.0)
    ap.add_argument("--sse-hold-min", type=float, default=20.0)
    ap.add_argument("--sse-hold-max", type=float, default=120.0)
    args = ap.parse_args()
    random.seed(21)
    clip = open(args.clip, "rb").read()
    t0 = [None]
    stats = Stats(t0, os.path.join(args.out, "errors.log"))
    base = args.base

    meta = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    users = [User(i, base, stats, args) for i in range(args.users)]
    print(f"setup: registering {len(users)} users (one loopback address each)", flush=True)
    await asyncio.gather(*(u.register_and_login() for u in users))
    lib = Library()
    print(f"setup: uploading {args.library} clips ({len(clip)} bytes each) and waiting for their transcodes", flush=True)
    ts = now()
    seeded = []
    sem = asyncio.Semaphore(4)

    async def seed(k):
        async with sem:
            owner = users[k % len(users)]
            got = await upload(owner, clip, k, stats)
            if got:
                seeded.append((k, (got[0], owner, got[1])))

    await asyncio.gather(*(seed(k) for k in range(args.library)))
    lib.videos = [v for _, v in sorted(seeded, key=lambda x: x[0])]
    if len(lib.videos) < args.library:
        print(f"setup: only {len(lib.videos)} of {args.library} clips became ready; see errors.log", flush=True)
    print(f"setup: library ready in {now() - ts:.1f} s", flush=True)

    counters = {"open": 0, "events": 0, "deleted": 0}
    loop = asyncio.get_running_loop()
    tasks = []
    t0[0] = now()
    for u in users:
        tasks.append(loop.create_task(u.player(lib)))
        tasks.append(loop.create_task(u.rater(lib)))
        tasks.append(loop.create_task(u.browser(lib)))
        tasks.append(loop.create_task(u.refresher()))
        for _ in range(args.sse_per_user):
            tasks.append(loop.create_task(u.subscriber(lib, counters)))
    tasks.append(loop.create_task(uploader(users, lib, clip, stats, args, args.library)))

    lag = {"max": 0.0}

    async def lag_monitor():
        while True:
            t = now()
            await asyncio.sleep(0.1)
            lag["max"] = max(lag["max"], (now() - t - 0.1) * 1000)

    tasks.append(loop.create_task(lag_monitor()))

    clk = os.sysconf("SC_CLK_TCK")
    csv_path = os.path.join(args.out, "soak.csv")
    csvf = open(csv_path, "w", newline="")
    w = csv.writer(csvf)
    header = ["minute", "utc", "rss_kb", "rss_anon_kb", "rss_file_kb", "threads", "fds", "fd_socket", "fd_file",
              "fd_pipe", "fd_anon", "actors", "actors_by_kind", "sse_subscribers_gauge", "sse_open_driver",
              "streams_active_gauge", "hls_distinct_kb", "hls_cache_kb", "hls_cache_entries", "rss_minus_cache_kb",
              "server_cpu_pct", "driver_cpu_pct", "driver_max_lag_ms", "load1",
              "requests", "errors"]
    for k in EP_KEYS:
        header += [f"{k}_count", f"{k}_errors", f"{k}_p99_ms"]
    w.writerow(header)
    rows = []

    st, kinds, targets, cpu_prev = read_proc(args.pid, args.data_dir)
    actors, gauges = parse_metrics(await scrape(meta, base))
    drv_prev = time.process_time()
    print(
        f"minute 0 (after setup): RSS {st['VmRSS'] / 1024:.1f} MB, {sum(kinds.values())} fds "
        f"({kinds['socket']} sockets, {kinds['file']} files, {kinds['pipe']} pipes, {kinds['anon']} anon), "
        f"{int(sum(actors.values()))} actors {dict((k, int(v)) for k, v in sorted(actors.items()))}",
        flush=True,
    )
    print(
        "\nmin   RSS MB   fds (sock/file/pipe/anon)  actors  thr  cpu%  load1  reqs  err  sse(gauge/open)  "
        "hlsMB  cacheMB  RSS-cache MB, then p99 ms (count) per endpoint in that minute",
        flush=True,
    )
    fd_dumps = {}
    aborted = None
    for minute in range(1, args.minutes + 1):
        await asyncio.sleep(max(0, t0[0] + 60 * minute - now()))
        try:
            st, kinds, targets, cpu = read_proc(args.pid, args.data_dir)
        except FileNotFoundError:
            aborted = f"troupe (pid {args.pid}) exited during minute {minute}"
            print(aborted, flush=True)
            break
        actors, gauges = parse_metrics(await scrape(meta, base))
        drv = time.process_time()
        load1 = os.getloadavg()[0]
        cpu_pct = (cpu - cpu_prev) / clk / 60 * 100
        drv_pct = (drv - drv_prev) / 60 * 100
        cpu_prev, drv_prev = cpu, drv
        if minute in (args.baseline_minute, args.minutes):
            fd_dumps[minute] = fd_summary(targets, args.data_dir)
            with open(os.path.join(args.out, f"fds_minute{minute:02d}.txt"), "w") as f:
                for t in sorted(targets):
                    f.write(t + "\n")
        b = stats.by_minute.get(minute, {})
        reqs = sum(len(v["lat"]) + v["err"] for v in b.values())
        errs = sum(v["err"] for v in b.values())
        nact = int(sum(actors.values()))
        # The HLS segment cache fills towards its bound by design: RSS minus what it holds is
        # what the goal is judged on. None when /metrics has no such gauge (an older binary).
        cache_kb = gauges["troupe_hls_cache_bytes"] / 1024 if "troupe_hls_cache_bytes" in gauges else None
        net_kb = st["VmRSS"] - (cache_kb or 0)
        row = {
            "minute": minute, "rss_kb": st["VmRSS"], "fds": sum(kinds.values()), "actors": nact,
            "errors": errs, "kinds": kinds, "actors_by_kind": actors, "cache_kb": cache_kb, "net_kb": net_kb,
        }
        rows.append(row)
        line = (
            f"{minute:3d}  {st['VmRSS'] / 1024:7.1f}  {sum(kinds.values()):4d} "
            f"({kinds['socket']}/{kinds['file']}/{kinds['pipe']}/{kinds['anon']})".ljust(42)
            + f"{nact:6d}  {st['Threads']:3d}  {cpu_pct:4.0f}  {load1:5.2f}  {reqs:4d}  {errs:3d}  "
            f"{int(gauges.get('troupe_sse_subscribers', -1))}/{counters['open']}".ljust(8)
            + f"  {sum(HLS_SEEN.values()) / 1048576:5.1f}"
            + (f"  {cache_kb / 1024:7.1f}  {net_kb / 1024:7.1f}" if cache_kb is not None else "        -        -")
        )
        parts = []
        csv_row = [
            minute, time.strftime("%H:%M:%S", time.gmtime()), st["VmRSS"], st.get("RssAnon", ""),
            st.get("RssFile", ""), st["Threads"], sum(kinds.values()), kinds["socket"], kinds["file"],
            kinds["pipe"], kinds["anon"], nact, ";".join(f"{k}={int(v)}" for k, v in sorted(actors.items())),
            int(gauges.get("troupe_sse_subscribers", -1)), counters["open"],
            int(gauges.get("troupe_playback_streams_active", -1)), sum(HLS_SEEN.values()) // 1024,
            int(cache_kb) if cache_kb is not None else "", int(gauges.get("troupe_hls_cache_entries", -1)),
            int(net_kb),
            f"{cpu_pct:.1f}", f"{drv_pct:.1f}",
            f"{lag['max']:.0f}", f"{load1:.2f}", reqs, errs,
        ]
        lag["max"] = 0.0
        for k in EP_KEYS:
            v = b.get(k, {"lat": [], "err": 0})
            q = p99(v["lat"])
            csv_row += [len(v["lat"]) + v["err"], v["err"], f"{q:.1f}" if q is not None else ""]
            if v["lat"] or v["err"]:
                parts.append(f"{k} {q:.1f}" if q is not None else f"{k} -")
                parts[-1] += f" ({len(v['lat']) + v['err']}{', ' + str(v['err']) + ' err' if v['err'] else ''})"
        w.writerow(csv_row)
        csvf.flush()
        print(line, flush=True)
        print("      " + ", ".join(parts), flush=True)

    tasks += list(SPAWNED)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for u in users:
        await u.http.close()
        await u.sse.close()
    await meta.close()
    csvf.close()

    # -- the whole run per endpoint -------------------------------------------------------
    print("\nwhole run (minutes 1-%d), per endpoint: count, errors, p50, p99, max (ms)" % len(rows))
    total_errors = 0
    for k, desc in ENDPOINTS:
        lat, err = [], 0
        for m, b in stats.by_minute.items():
            if m >= 1 and k in b:
                lat += b[k]["lat"]
                err += b[k]["err"]
        total_errors += err
        if lat or err:
            print(
                f"  {k:10s} {len(lat) + err:7d} {err:4d}  p50 {pct(lat, 0.5) or 0:8.1f}  p99 {p99(lat) or 0:8.1f}"
                f"  max {max(lat) if lat else 0:8.1f}   {desc}"
            )
    setup_errors = sum(v["err"] for v in stats.by_minute.get(0, {}).values())
    total_errors += setup_errors
    print(f"  uploads skipped because 3 were still under way (transcodes lagging): {SKIPPED['uploads']}")
    print(f"  setup errors: {setup_errors}; event streams opened {counters['events']} events read, "
          f"{counters['deleted']} ended by `deleted` (expected: retired videos)")

    # -- verdict --------------------------------------------------------------------------
    print("\nverdict (goal: after the first %d minutes RSS grows <= 5 %%, open files and actors stay flat, "
          "0 errors; RSS is judged without the HLS segment cache, which fills towards its bound by design)"
          % args.baseline_minute)
    verdict = []
    if aborted or not rows:
        print(f"  FAIL: {aborted or 'no minute completed'}")
        print(f"soak: results in {args.out}")
        return 1
    def med(v):
        return sorted(v)[len(v) // 2]

    def flat(name, values, r0, r1):
        """Flat: neither the typical value nor the floor rises. The median and the minimum of
        the last 5 minutes stay within a band of max(5, 5 % of the window's median) of those of
        the window's first 5 minutes. Transients (a transcode's pipes, a tantivy merge's
        files, a burst of connections) raise single samples, not the floor or the median; a
        leak raises both. The spread (max - min) is shown for information."""
        band = max(5.0, 0.05 * med(values))
        n = min(5, len(values))
        head, tail = values[:n], values[-n:]
        d_med, d_min = med(tail) - med(head), min(tail) - min(head)
        good = d_med <= band and d_min <= band
        print(f"  {name}: minutes {r0['minute']}-{r1['minute']}: first {n} minutes median {med(head)} min "
              f"{min(head)}, last {n} median {med(tail)} min {min(tail)}: {d_med:+d} / {d_min:+d} "
              f"(band {band:.0f}; spread over the window {min(values)}..{max(values)})  "
              f"{'PASS' if good else 'MISS'}")
        return good

    def judge(base_m):
        """RSS, open files and actors from minute base_m to the end; returns the PASSes."""
        window = [r for r in rows if r["minute"] >= base_m]
        r0, r1 = window[0], window[-1]

        def growth_line(name, key):
            growth = (r1[key] - r0[key]) / r0[key] * 100
            peak = max(r[key] for r in window)
            tail = med([r[key] for r in window[-5:]])
            return growth, (
                f"{name}: minute {r0['minute']} {r0[key] / 1024:.1f} MB -> minute {r1['minute']} "
                f"{r1[key] / 1024:.1f} MB: {growth:+.1f} % (peak {peak / 1024:.1f} MB; median of the last 5 "
                f"minutes {tail / 1024:.1f} MB, {(tail - r0[key]) / r0[key] * 100:+.1f} %)")

        growth, rss_line = growth_line("RSS", "rss_kb")
        if all(r["cache_kb"] is not None for r in window):
            net, net_line = growth_line("RSS minus the HLS cache", "net_kb")
            ok = net <= 5.0
            print(f"  {rss_line}  (for information: the cache holds {r0['cache_kb'] / 1024:.1f} -> "
                  f"{r1['cache_kb'] / 1024:.1f} MB)")
            print(f"  {net_line}  {'PASS' if ok else 'MISS'}")
        else:
            ok = growth <= 5.0
            print(f"  {rss_line}  {'PASS' if ok else 'MISS'}  (judged on RSS: /metrics has no "
                  f"troupe_hls_cache_bytes)")
        return [ok, flat("open files", [r["fds"] for r in window], r0, r1),
                flat("actors", [r["actors"] for r in window], r0, r1)], r0, r1

    base_m = args.baseline_minute if len(rows) > args.baseline_minute else 1
    passes, r0, r1 = judge(base_m)
    verdict += passes
    ok = total_errors == 0
    verdict.append(ok)
    print(f"  errors: {total_errors} (setup included; details in errors.log)  {'PASS' if ok else 'MISS'}")
    # Where it moved, for the investigation of a MISS.
    first_k, last_k = r0["actors_by_kind"], r1["actors_by_kind"]
    print("  actors by kind, minute %d -> %d: %s" % (r0["minute"], r1["minute"], ", ".join(
        f"{k} {int(first_k.get(k, 0))}->{int(last_k.get(k, 0))}" for k in sorted(set(first_k) | set(last_k)))))
    print("  fds by kind, minute %d -> %d: %s" % (r0["minute"], r1["minute"], ", ".join(
        f"{k} {r0['kinds'][k]}->{r1['kinds'][k]}" for k in r0["kinds"])))
    if base_m in fd_dumps and r1["minute"] in fd_dumps:
        a, b2 = fd_dumps[base_m], fd_dumps[r1["minute"]]
        moved = {k: b2.get(k, 0) - a.get(k, 0) for k in set(a) | set(b2) if b2.get(k, 0) != a.get(k, 0)}
        if moved:
            print("  fd targets that changed: " + ", ".join(f"{k} {v:+d}" for k, v in sorted(moved.items())))
    if len(rows) >= args.steady_minute + 10:
        print(f"\nfor information, the same from minute {args.steady_minute} (the steady state: the actors of the "
              f"first deletions, ~2 minutes in, are passivated {300 // 60} minutes after their last message):")
        judge(args.steady_minute)
    print(f"soak: {'PASS' if all(verdict) else 'MISS'} (results in {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
