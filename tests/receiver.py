"""A real HTTP receiver for webhook tests: 127.0.0.1, records every request."""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Hit:
    """One request the receiver got, and the status it answered."""

    status: int
    method: str
    target: str  # path and query string, as sent
    body: bytes

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> list[tuple[str, str]]:
        """The query string's pairs, in order."""
        return urllib.parse.parse_qsl(self.target.partition("?")[2], keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


class Receiver:
    """Records every GET and POST as a :class:`Hit`; answers 500 while ``failures``
    > 0 (counting down), else 200.  ``port`` 0: a free one, known before
    :meth:`start` (so a test can point a webhook at a receiver not yet listening)."""

    def __init__(self, port: int = 0, *, start: bool = True) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cond = threading.Condition()
        self._hits: list[Hit] = []
        self.failures = 0
        self._server: ThreadingHTTPServer | None = None
        if start:
            self.start()

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.cond:
                    status = 500 if receiver.failures > 0 else 200
                    receiver.failures -= status == 500
                    receiver._hits.append(Hit(status, self.command, self.path, body))
                    receiver.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = _record

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    @property
    def hits(self) -> list[Hit]:
        with self.cond:
            return list(self._hits)

    def delivered(self, path: str | None = None) -> list[Hit]:
        """The requests answered 200 (to ``path`` only, when given), in order."""
        return [h for h in self.hits if h.status == 200 and (path is None or h.path == path)]

    def wait(self, predicate: Callable[[list[Hit]], Any], timeout: float = 10.0) -> list[Hit]:
        """Wait until ``predicate`` holds for the requests so far; return them."""
        with self.cond:
            assert self.cond.wait_for(lambda: predicate(self._hits), timeout), self._hits
            return list(self._hits)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
