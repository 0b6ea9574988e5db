"""Prints the messages of a Maildir (the aiosmtpd sink's) as JSON, one object per message:
to, subject, message_id, headers (lists of values by lower-case name), text and html parts.
Read with Python's own email package, so any transfer encoding lettre picks is decoded."""
import json
import mailbox
import os
import sys
from email import policy
from email.parser import BytesParser

out = []
if not os.path.isdir(os.path.join(sys.argv[1], "new")):
    # Nothing received yet: aiosmtpd makes the Maildir with the first message.
    json.dump(out, sys.stdout)
    sys.exit(0)
box = mailbox.Maildir(sys.argv[1], factory=None, create=False)
for key in box.iterkeys():
    with box.get_file(key) as f:
        msg = BytesParser(policy=policy.default).parse(f)
    headers = {}
    for k, v in msg.items():
        headers.setdefault(k.lower(), []).append(str(v))
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    out.append(
        {
            "key": key,
            "to": str(msg.get("To", "")),
            "subject": str(msg.get("Subject", "")),
            "message_id": str(msg.get("Message-ID", "")),
            "headers": headers,
            "text": text.get_content() if text else "",
            "html": html.get_content() if html else "",
        }
    )
json.dump(out, sys.stdout)
