"""Reads a feed with feedparser (PyPI), the parser feed readers use, and prints what it
understood as JSON: the feed's version and title, whether it was well-formed (bozo), and each
entry's title, link, id, summary, Media RSS thumbnail and duration.

Usage: python3 parse.py FILE
"""
import json
import sys

import feedparser

d = feedparser.parse(sys.argv[1])
out = {
    "bozo": int(d.bozo),
    "bozo_exception": str(d.get("bozo_exception", "")),
    "version": d.version,
    "title": d.feed.get("title"),
    "subtitle": d.feed.get("subtitle"),
    "entries": [
        {
            "title": e.get("title"),
            "link": e.get("link"),
            "id": e.get("id"),
            "summary": e.get("summary"),
            "thumbnail": [t.get("url") for t in e.get("media_thumbnail", [])],
            "duration": [c.get("duration") for c in e.get("media_content", [])],
        }
        for e in d.entries
    ],
}
print(json.dumps(out))
