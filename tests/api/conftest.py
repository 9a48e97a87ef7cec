"""An agent serving its HTTP APIs on a real socket (127.0.0.1, a free port),
over the real queue, router, line workers and simulated modems."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import pytest

from agent.api.server import HttpServer
from agent.config import Config, parse
from agent.core import Core

from ..queue_harness import Stack

CONFIG = """
[agent]
id = api-test
state_dir = state
[auth]
username = admin
password = s3cret
[jindi]
password = jpass
"""


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


class Api:
    def __init__(self, stack: Stack, config: Config, core: Core, server: HttpServer) -> None:
        self.stack = stack
        self.config = config
        self.core = core
        self.server = server
        self.url = server.url

    def request(self, method: str, path: str, *, body: bytes | None = None, query: dict | None = None,
                headers: dict | None = None) -> Reply:
        url = self.url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return Reply(resp.status, resp.read(), dict(resp.headers))
        except urllib.error.HTTPError as err:
            return Reply(err.code, err.read(), dict(err.headers))

    def post_json(self, path: str, obj: Any, **kw: Any) -> Reply:
        body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        return self.request("POST", path, body=body, headers={"Content-Type": "application/json", **kw.pop("headers", {})}, **kw)

    def get(self, path: str, **query: Any) -> Reply:
        return self.request("GET", path, query=query)

    def send_fields(self, path: str, fields: dict[str, Any], *, post: bool, post_over: int = 30_000,
                    headers: dict | None = None) -> Reply:
        """Send ``fields`` as a query string (GET) or a form body (POST; also when the
        encoding is longer than ``post_over``), with ``headers``.  A value given as
        ``("raw", text)`` goes as it is, unencoded (for fuzzing what clients really send)."""
        encoded = "&".join(urllib.parse.quote(k, safe="") + "=" + (v[1] if isinstance(v, tuple)
                                                                    else urllib.parse.quote(v, safe=""))
                           for k, v in fields.items())
        if post or len(encoded) > post_over:
            return self.request("POST", path, body=encoded.encode(),
                                headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})
        return self.request("GET", f"{path}?{encoded}", headers=headers)

    def post_form(self, path: str, **fields: Any) -> Reply:
        return self.request("POST", path, body=urllib.parse.urlencode(fields).encode(),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})


@pytest.fixture
def make_api(make_bank, tmp_path):
    """make_api(profiles=("generic",)*2, config_text=CONFIG, lines={...}, simulated=True) -> Api: the
    agent as App wires it from ``config_text``, on a simulated bank of ``profiles``."""
    made: list[Api] = []

    def make(profiles=("generic", "generic"), *, config_text: str = CONFIG, lines: dict | None = None,
             simulated: bool = True, **stack_kw: Any) -> Api:
        sim = make_bank(list(profiles))
        state = tmp_path / "state"
        state.mkdir(exist_ok=True)
        config = parse(config_text + "\n[http]\nhost = 127.0.0.1\nport = 0\n", base_dir=tmp_path)
        stack = Stack(sim, state / f"api{len(made)}.db", lines=lines, config=config, simulated=simulated,
                      **stack_kw).start()
        assert stack.app.http is not None
        api = Api(stack, stack.config, stack.core, stack.app.http)
        made.append(api)
        return api

    yield make
    for api in made:
        api.stack.stop()


@pytest.fixture
def api(make_api) -> Api:
    return make_api()
