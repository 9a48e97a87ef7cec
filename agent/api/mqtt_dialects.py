"""The MQTT dialects, mounted on the MQTT transport as the HTTP ones are on the server.

:func:`mount` serves the commands (:mod:`.mqtt_commands`) on ``cmd/<name>``
and the SOMP dialect's sends (:mod:`.somp_mqtt`) on ``somp/<phone>``;
:data:`FORMATTERS` are the dialects' own publications of outbox events
(SOMP's ``somp/receive/...``), handed to the transport when it is built.
The transport is anything with ``serve``, ``status`` and ``lines``
(:class:`agent.uplink.mqtt.MqttUplink`); it speaks no dialect itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol

from .. import redact
from ..model import NewMessage, Publication
from . import somp_mqtt
from .mqtt_commands import Commands

if TYPE_CHECKING:
    from ..config import Config
    from ..core import Core

def shown_config(config: Config) -> Callable[[], dict[str, Any]]:
    """What the ``config`` command shows of ``config``: all of it, every secret masked."""
    return lambda: redact.masked(config)


FORMATTERS: tuple[Callable[[str, dict[str, Any]], Publication | None], ...] = (somp_mqtt.received,)


class Transport(Protocol):
    def serve(self, level: str, handler: Callable[[str, bytes], dict[str, Any] | None], *,
              busy: Callable[[str], dict[str, Any] | None] | None = None) -> None: ...

    def status(self) -> dict[str, Any]: ...

    def lines(self) -> dict[str, dict[str, Any]]: ...


def mount(transport: Transport, core: Core, *, config: Callable[[], dict[str, Any]]) -> Commands:
    """Serve the MQTT dialects of ``core`` on ``transport`` (texts of at most
    ``core.max_parts`` SMS parts); ``config()`` is what the ``config`` command
    shows (secrets masked: see :func:`shown_config`).  Return the commands' handler."""
    max_parts = core.max_parts
    commands = Commands(core, status=transport.status, lines=transport.lines, config=config, max_parts=max_parts)

    def busy(name: str) -> dict[str, Any]:
        return {"id": None, "command": name, "ok": False, "error": "busy", "detail": "too many requests waiting"}

    def submit(message: NewMessage) -> int | None:
        return core.submit([message], task=True, source=somp_mqtt.SOURCE).task_id

    transport.serve("cmd", commands.execute, busy=busy)
    transport.serve("somp", somp_mqtt.handler(submit, max_parts=max_parts))
    return commands
