"""What a binary submission becomes in the queue, and why one is refused.

A door decodes its PDU into :class:`~agent.model.NewMessage` values (one per
recipient) and hands them here; the message is committed durably (the store's
synchronous=FULL transaction) before this returns, so the door may answer
with its id.  A message the client split itself goes part by part
(:meth:`Intake.part`, see :mod:`agent.store.doors`).

Refusals are :class:`Refusal` with a ``kind`` each door maps to its own status:
``too_long`` (more parts than ``[modems] max_parts``), ``bad_text`` (a text its
encoding cannot carry), ``no_line`` (no enabled line), ``throttled`` (today's
quota of the lines, or of the provider group asked for, is spent) and
``system`` (the database cannot take it now).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from ..codec.parts import split
from ..core import Core
from ..errors import EncodeError, StoreError, TooManyParts
from ..model import NewMessage

log = logging.getLogger(__name__)

TOO_LONG, BAD_TEXT, NO_LINE, THROTTLED, SYSTEM = "too_long", "bad_text", "no_line", "throttled", "system"
_QUOTA_TTL = 1.0  # seconds a look at the quotas is reused (a burst of submits reads them once)


class Refusal(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class Taken:
    """A submission (or part) committed: its task, when that was made (local
    time), and whether it had been taken before (a retransmitted part)."""

    task_id: int
    created: datetime
    duplicate: bool = False


class Intake:
    """Submissions of door ``door`` (the tasks' ``source``) into ``core``'s queue."""

    def __init__(self, core: Core, door: str, *, tz: tzinfo | None, parts_timeout: float) -> None:
        self._core = core
        self.door = door
        self._tz = tz
        self._parts_timeout = parts_timeout
        self._quota: tuple[float, dict[str | None, int | None]] = (0.0, {})

    def whole(self, messages: Sequence[NewMessage]) -> Taken:
        """Queue ``messages`` (one per recipient, the same text) as one task."""
        self._check(messages)
        try:
            accepted = self._core.submit(messages, task=True, source=self.door)
        except StoreError as exc:
            raise Refusal(SYSTEM, str(exc)) from None
        except Exception as exc:  # the database said no in a way the store did not name: refuse, keep serving
            log.exception("%s: a submission could not be queued", self.door)
            raise Refusal(SYSTEM, str(exc)) from None
        assert accepted.task_id is not None and accepted.created is not None
        # The task's own creation time: a CMPP Msg_Id made of it now and made again for
        # the status report (from the tasks row) are the same, even across a second.
        return Taken(accepted.task_id, self._local(accepted.created))

    def part(self, key: str, part: int, total: int, messages: Sequence[NewMessage]) -> Taken:
        """Commit part ``part`` of ``total`` of the message ``key`` names; the
        whole text is queued with the part that completes the set."""
        self._check(messages, whole=False)
        try:
            taken = self._core.submit_part(self.door, key, part=part, total=total, messages=messages,
                                           window=self._parts_timeout)
        except StoreError as exc:
            raise Refusal(SYSTEM, str(exc)) from None
        except Exception as exc:
            log.exception("%s: a part could not be stored", self.door)
            raise Refusal(SYSTEM, str(exc)) from None
        return Taken(taken.task_id, self._local(taken.created), taken.duplicate)

    def flush(self) -> None:
        """Queue the sets that waited longer than the parts timeout for a part."""
        try:
            self._core.flush_parts(self._parts_timeout)
        except StoreError as exc:
            log.warning("%s: incomplete long messages not looked at: %s", self.door, exc)

    def task_created(self, task_id: int) -> datetime | None:
        task = self._core.door_task(task_id)
        return None if task is None else self._local(task.created)

    def _local(self, epoch: float) -> datetime:
        return datetime.fromtimestamp(epoch, self._tz).replace(tzinfo=None)

    def _check(self, messages: Sequence[NewMessage], *, whole: bool = True) -> None:
        core = self._core
        for m in messages[:1]:
            if whole:
                try:
                    split(m.text, encoding={"8": "8bit", "U": "ucs2"}.get(m.encoding), max_parts=core.max_parts)
                except TooManyParts as exc:
                    raise Refusal(TOO_LONG, str(exc)) from None
                except EncodeError as exc:
                    raise Refusal(BAD_TEXT, str(exc)) from None
        if not any(core.lines[name].enabled for name in core.line_names()):
            raise Refusal(NO_LINE, "no enabled line")
        provider = messages[0].provider or None
        now = time.monotonic()
        seen, left = self._quota
        if now - seen > _QUOTA_TTL or provider not in left:
            left = dict(left) if now - seen <= _QUOTA_TTL else {}
            left[provider] = core.quota_left(provider)
            self._quota = (now, left)
        if left[provider] == 0:
            raise Refusal(THROTTLED, "today's quota of the lines is spent")
