"""moto_server whose conditional writes are atomic, as on real S3.

moto checks `If-Match` / `If-None-Match` and then writes the object in separate steps, with
no lock, on a threaded server: two writers holding the same ETag can both win (measured: 2
double winners in 300 two-way races against moto 5.2.1). troupe's fencing relies on exactly
one winner, so the tests serialise moto's object writes and deletes with one lock. Reads stay
concurrent. Arguments are moto_server's (`-H host -p port`).
"""

import functools
import threading

from moto import server
from moto.s3.responses import S3Response

_LOCK = threading.RLock()


def _atomic(method):
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with _LOCK:
            return method(*args, **kwargs)

    return locked


# Every request that checks a precondition and then changes an object: PutObject,
# CopyObject, DeleteObject, and the POSTs (CompleteMultipartUpload, DeleteObjects).
for _name in ("put_object", "copy_object", "delete_object", "_key_response_post"):
    setattr(S3Response, _name, _atomic(getattr(S3Response, _name)))

if __name__ == "__main__":
    server.main()
