"""The HTTP server: waitress serving the agent's WSGI app (:mod:`agent.api.web`).

waitress is a production-grade threaded WSGI server (pure Python,
maintained by the Pylons project): HTTP/1.1 keep-alive, a bounded request
body, idle-connection timeouts and a fixed pool of worker threads, so a
slow client never holds up another.  :class:`HttpServer` stops cleanly
from another thread.  Two fixes to waitress, installed by :class:`HttpServer`
through its channel class (nothing is patched at import):

* clients that put raw bytes >= 0x80 in the request target (Chinese text
  not percent-encoded, as some vendor examples show) are served: those
  bytes are read as if they had been percent-encoded, where waitress alone
  answers 400 "Bad URI";
* ``Expect: 100-continue`` on a request without a body (no Content-Length,
  ``Content-Length: 0``) or refused at its headers (413) gets its final
  response at once: waitress 3.0.2 sent ``100 Continue`` and then waited
  for a body that never comes, until the idle timeout.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import waitress.channel
import waitress.parser
from waitress.server import create_server

log = logging.getLogger(__name__)


_RAW_BYTE = re.compile(rb"[\x80-\xff]")


def _percent(match: re.Match[bytes]) -> bytes:
    return b"%%%02X" % match.group()[0]


class _Parser(waitress.parser.HTTPRequestParser):
    """waitress's request parser, except that

    * raw bytes >= 0x80 in the request line (only the target can hold them)
      are percent-encoded before it is parsed;
    * a request already complete at the end of its headers (no body to wait
      for, or refused: 413, 400) does not ask for ``100 Continue``: waitress's
      channel sent it and marked the request incomplete again, so it was
      never served.  RFC 9110 10.1.1: a server may omit 100 when the framing
      says there is no content, and should answer a request it refuses with
      the final status at once."""

    def parse_header(self, header_plus: bytes) -> None:
        end = header_plus.find(b"\r\n")
        if end > 0 and _RAW_BYTE.search(header_plus, 0, end):
            header_plus = _RAW_BYTE.sub(_percent, header_plus[:end]) + header_plus[end:]
        super().parse_header(header_plus)

    def received(self, data: bytes) -> int:
        consumed = super().received(data)
        if self.completed:
            self.expect_continue = False
        return int(consumed)


class _Channel(waitress.channel.HTTPChannel):  # type: ignore[misc]
    parser_class = _Parser


class HttpServer:
    """Serves a WSGI app on ``host:port`` (port 0: any free port) in a named thread."""

    def __init__(self, app: Any, *, host: str, port: int, threads: int = 8, max_body: int = 4_194_304,
                 timeout: float = 30.0) -> None:
        # The socket map is ours: emptying it is how the serving loop is stopped (see stop()).
        self._sockets: dict[int, Any] = {}
        self._server = create_server(app, map=self._sockets, host=host, port=port, threads=threads,
                                     max_request_body_size=max_body, channel_timeout=int(timeout), ident="sms-agent",
                                     clear_untrusted_proxy_headers=True)
        self._server.channel_class = _Channel  # type: ignore[union-attr]  # read at each accept
        self.host = host
        self.port: int = self._server.effective_port  # type: ignore[union-attr]
        self._thread = threading.Thread(target=self._serve, name="http", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        log.info("HTTP APIs on %s", self.url)

    def _serve(self) -> None:
        try:
            self._server.run()
        except Exception:
            log.exception("HTTP server failed")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let requests in progress finish (bounded), join the thread."""
        server: Any = self._server
        server.task_dispatcher.shutdown(timeout=timeout)
        # The serving loop runs while its socket map is not empty: empty the
        # map, pull the wake-up trigger so the loop notices at once, and
        # close the listener and the connections once the loop has ended.
        channels = list(self._sockets.values())
        self._sockets.clear()
        server.pull_trigger()
        self._thread.join(timeout)
        for channel in channels:
            channel.close()
