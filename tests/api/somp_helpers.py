"""Helpers of the SOMP dialect tests: its config, raw requests, MD5 passwords."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta
from typing import Any

from .conftest import CONFIG

USER, PASSWORD = "star", "123456"
SOMP_CONFIG = CONFIG + f"[somp]\nusername = {USER}\npassword = {PASSWORD}\n"
TEXT = "text/plain; charset=utf-8"
XML = "text/xml; charset=utf-8"
JSON = "application/json; charset=utf-8"


def somp_config(**keys: Any) -> str:
    """The test config with more [somp] keys."""
    return SOMP_CONFIG + "".join(f"{key} = {value}\n" for key, value in keys.items())


def get(api, path: str, query: str):
    """GET ``path?query`` with the query exactly as given (hand-built URLs, like the seed's clients)."""
    return api.request("GET", f"{path}?{query}")


def post(api, path: str, body: str | bytes, query: str = ""):
    data = body.encode("ascii") if isinstance(body, str) else body
    return api.request("POST", path + (f"?{query}" if query else ""), body=data,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})


def auth(**more: str) -> str:
    """``un=..&pw=..`` plus ``more`` (values used as given: already URL-encoded)."""
    return "&".join([f"un={USER}", f"pw={PASSWORD}", *(f"{k}={v}" for k, v in more.items())])


def stamp(offset: float = 0.0) -> str:
    """yyyyMMddHHmmss local time of the box (the tests run with the system's zone), ``offset`` s from now."""
    return (datetime.now() + timedelta(seconds=offset)).strftime("%Y%m%d%H%M%S")


def digest(ts: str, content: bytes | None, *, user: str = USER, password: str = PASSWORD) -> str:
    """The seed's Java example, step by step: Base64(MD5(un + pw + ts [+ content]))."""
    md5 = hashlib.md5()
    md5.update(user.encode("utf8"))
    md5.update(password.encode("utf8"))
    md5.update(ts.encode("utf8"))
    if content is not None:
        md5.update(content)
    return base64.b64encode(md5.digest()).decode("ascii")


def out_rows(api) -> tuple[int, int]:
    return api.stack.sql("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM smsserver_out")[0]


def task_rows(api, task_id: int) -> list[dict]:
    return api.core.messages_by_task(task_id)


def sent_texts(api) -> list[tuple[str, str]]:
    return sorted((m.recipient, m.text) for sim in api.stack.sim for m in sim.sent)
