"""A minimal ERP stand-in for the pipeline benchmark: accepts JSON POSTs on 127.0.0.1 and counts them.

    python -m bench.pipeline.sink          # prints the port it listens on, then serves until killed

``GET /count`` answers ``{"posts": N, "keys": K}`` (K distinct ``Idempotency-Key`` values).
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_lock = threading.Lock()
_posts = 0
_keys: set[str] = set()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def do_POST(self) -> None:  # noqa: N802
        global _posts
        self.rfile.read(int(self.headers.get("content-length") or 0))
        with _lock:
            _posts += 1
            _keys.add(self.headers.get("idempotency-key") or "")
        self._answer(b'{"ok":true}')

    def do_GET(self) -> None:  # noqa: N802
        with _lock:
            body = json.dumps({"posts": _posts, "keys": len(_keys)}).encode()
        self._answer(body)

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
