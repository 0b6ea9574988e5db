"""Prints the messages of a Maildir (aiosmtpd's Mailbox handler writes one) as JSON, parsed by
Python's standard email package: to, subject, the text and HTML parts, and every header.

Usage: python3 maildir_dump.py DIR
"""
import email.policy
import json
import mailbox
import sys

out = []
box = mailbox.Maildir(sys.argv[1], factory=None, create=False)
for key in sorted(box.keys()):
    with box.get_file(key) as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    headers = {}
    for name, value in msg.items():
        headers.setdefault(name.lower(), []).append(str(value))
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    out.append({
        "to": str(msg.get("to", "")),
        "subject": str(msg.get("subject", "")),
        "content_type": msg.get_content_type(),
        "text": text.get_content() if text is not None else None,
        "html": html.get_content() if html is not None else None,
        "headers": headers,
    })
json.dump(out, sys.stdout)
