"""Placeholder: the httpinterface dialect is being written."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import bottle

if TYPE_CHECKING:
    from ..core import Core


def mount(app: bottle.Bottle, core: Core, config: Any, *, tz: Any = None, max_parts: int = 10) -> None:
    """Add this dialect's routes to ``app``."""
