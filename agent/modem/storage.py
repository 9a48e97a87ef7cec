"""The SMS storage of one modem over AT (3GPP TS 27.005): stored messages and stored sends.

:class:`Storage` chooses the storage (AT+CPMS), lists, reads and deletes the
messages in it (AT+CMGL, AT+CMGR, AT+CMGD), and, for send_mode = store,
writes outgoing messages to it (AT+CMGW), sends them from there (AT+CMSS)
and tells whether each was sent.  It speaks through the
:class:`~agent.modem.session.Session` that owns it (its commands, timeouts
and SIM-busy retries) and raises the channel's exceptions
(:class:`CommandError`, :class:`CommandTimeout`, :class:`PortError`) unless a
method documents otherwise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from ..codec import at
from ..errors import AtParseError, CommandError, CommandTimeout
from .channel import Channel, Response

log = logging.getLogger(__name__)


class Commands(Protocol):
    """What the storage uses of its session."""

    channel: Channel
    line: str
    timeout: float
    send_timeout: float

    def cmd(self, command: str, *, timeout: float | None = None, **kw: object) -> Response: ...

    def cmd_busy_retry(self, command: str, *, attempts: int = 12, first_wait: float = 0.05) -> Response: ...


@dataclass(frozen=True)
class Stored:
    """One message in the modem's storage, as +CMGL/+CMGR gave it."""

    storage: str
    index: int
    stat: int | None
    pdu: str


class Storage:
    """The stored messages of one modem, through ``session``'s commands.

    :attr:`mem1` is the storage AT+CMGR/AT+CMGD/AT+CMGL act on now;
    :attr:`mem2` the one AT+CMGW writes to and AT+CMSS sends from (<mem2>
    of AT+CPMS).  :meth:`select` makes them the same.
    """

    def __init__(self, session: Commands) -> None:
        self._at = session
        self.mem1 = "SM"
        self.mem2 = "SM"

    @property
    def _name(self) -> str:
        return self._at.line

    def select(self) -> None:
        """Use one storage for reading (mem1), writing and sending (mem2) and
        receiving (mem3): what AT+CMGW writes, AT+CMGR/AT+CMGD find at the same
        index.  SM, else ME, else MT; when the modem refuses all, its default stays."""
        for mem in ("SM", "ME", "MT"):
            try:
                self._at.cmd_busy_retry(f'AT+CPMS="{mem}","{mem}","{mem}"')
                self.mem1 = self.mem2 = mem
                return
            except CommandError as exc:
                log.debug("%s: storage %s refused: %s", self._name, mem, exc)
        log.warning("%s: the modem refused every SMS storage; keeping its default", self._name)

    def use(self, storage: str) -> None:
        """Point AT+CMGR/AT+CMGD at ``storage`` (e.g. "SR" for status reports)."""
        storage = storage.strip('"').upper() or self.mem1
        if storage != self.mem1:
            self._at.cmd_busy_retry(f'AT+CPMS="{storage}"')
            self.mem1 = storage

    # --- received messages ---------------------------------------------------------

    def list_stored(self) -> list[Stored]:
        """``AT+CMGL=4``: every message in the current storage, read or not."""
        resp = self._at.cmd("AT+CMGL=4", timeout=max(self._at.timeout, 30.0))
        stored: list[Stored] = []
        lines = resp.lines
        i = 0
        while i < len(lines):
            try:
                index, stat, _length = at.parse_cmgl_header(lines[i])
            except AtParseError:
                log.debug("%s: skipping CMGL line %r", self._name, lines[i])
                i += 1
                continue
            pdu = lines[i + 1].strip() if i + 1 < len(lines) else ""
            stored.append(Stored(self.mem1, index, stat, pdu))
            i += 2
        return stored

    def read(self, index: int) -> Stored | None:
        """``AT+CMGR=index`` in the current storage; None when the slot is empty."""
        resp = self._at.cmd(f"AT+CMGR={index}")
        for i, ln in enumerate(resp.lines):
            try:
                stat, _length, inline = at.parse_cmgr_header(ln)
            except AtParseError:
                continue
            pdu = inline or (resp.lines[i + 1].strip() if i + 1 < len(resp.lines) else "")
            return Stored(self.mem1, index, stat, pdu) if pdu else None
        return None

    def delete(self, index: int) -> None:
        """``AT+CMGD=index`` in the current storage."""
        self._at.cmd(f"AT+CMGD={index}")

    # --- store and send (send_mode = store: AT+CMGW, AT+CMSS) ------------------------

    def write_pdu(self, tpdu_length: int, pdu_hex: str) -> int:
        """Write one SMS-SUBMIT to the modem's storage :attr:`mem2` with
        ``AT+CMGW=<length>`` (stat 2, "STO UNSENT"); return its index there.

        Nothing is sent.  ``tpdu_length`` counts the octets after the SMSC field
        of ``pdu_hex``.  Raise CommandError('AT+CMGW', ...) on an error final
        (CMS 322: the storage is full); CommandTimeout('AT+CMGW', ...) when no
        prompt (ESC is written) or no result comes within the command timeout
        (the PDU may then be stored at an unknown index); AtParseError when the
        modem says OK without ``+CMGW:``.  When ``+CMGW:`` came but its OK did
        not, the index is returned.
        """
        session = self._at
        return session.channel.send_pdu(tpdu_length, pdu_hex, command="AT+CMGW", timeout=session.timeout,
                                        prompt_timeout=min(session.timeout, session.send_timeout))

    def send_stored(self, index: int) -> int:
        """Send the message stored at ``index`` of :attr:`mem2` (``AT+CMSS=<index>``);
        return its TP-MR.

        Like AT+CMGS, it waits up to the session's ``send_timeout``.  Raise
        CommandError('AT+CMSS=<index>', ...) on an error final (the CMS codes of
        AT+CMGS, plus 321 for an empty index); CommandTimeout (or the channel's
        interruption on stop) when no result comes: the modem may have sent it,
        and :meth:`stored_status` tells; AtParseError when the modem says OK
        without ``+CMSS:`` (probably sent).  When ``+CMSS:`` came but its OK did
        not, the reference is returned.
        """
        command = f"AT+CMSS={index}"
        send_timeout = self._at.send_timeout
        resp = self._at.cmd(command, timeout=send_timeout, lenient=True)
        answers = [ln for ln in resp.lines if ln.startswith("+CMSS:")]
        if not answers:
            if not resp.final.kind:  # lenient: no final, and only other lines came
                raise CommandTimeout(command, send_timeout, line=self._name)
            raise AtParseError(f"{command} ended with OK but without +CMSS: (probably sent)")
        if not resp.final.kind:
            log.warning("%s: +CMSS came without a final; taking it as sent", self._name)
        return at.parse_cmss(answers[-1])

    def stored_status(self, index: int, *, storage: str | None = None, pdu: str | None = None) -> int | None:
        """The <stat> of the message at ``index`` in ``storage`` (default :attr:`mem2`):
        2 "STO UNSENT", 3 "STO SENT" (0/1 for a received message); None when the
        slot is empty (a bare OK, an empty PDU or CMS 321), or, when ``pdu`` (the
        hex that was written) is given, when it holds another message.

        Reads ``AT+CMGR=<index>``; when the header has no stat (ZTE: ``+CMGR: ,,27``)
        the ``AT+CMGL=2`` and ``AT+CMGL=3`` listings tell.  Raise the channel's
        exceptions otherwise.
        """
        self.use(storage or self.mem2)
        try:
            item = self.read(index)
        except CommandError as exc:
            if exc.kind == "CMS" and exc.code == 321:
                return None
            raise
        if item is None or (pdu is not None and not same_submit(item.pdu, pdu)):
            return None
        if item.stat is not None:
            return item.stat
        for stat in (2, 3):
            if any(listed.index == index for listed in self._list_stat(stat)):
                return stat
        return None  # a received message (stat 0/1) whose header hides it: not one of ours

    def stored_submits(self, storage: str | None = None) -> list[Stored]:
        """Every message written to ``storage`` (default :attr:`mem2`), unsent
        (``AT+CMGL=2``) then sent (``AT+CMGL=3``), each with its stat."""
        self.use(storage or self.mem2)
        return self._list_stat(2) + self._list_stat(3)

    def delete_stored(self, index: int, *, storage: str | None = None) -> None:
        """Delete the message at ``index`` of ``storage`` (default :attr:`mem2`);
        an index already empty (CMS 321) is not an error."""
        self.use(storage or self.mem2)
        try:
            self.delete(index)
        except CommandError as exc:
            if not (exc.kind == "CMS" and exc.code == 321):
                raise

    def _list_stat(self, stat: int) -> list[Stored]:
        """``AT+CMGL=<stat>`` in the current storage (mem1)."""
        resp = self._at.cmd(f"AT+CMGL={stat}", timeout=max(self._at.timeout, 30.0))
        listed: list[Stored] = []
        lines = resp.lines
        for i, ln in enumerate(lines):
            try:
                index, got, _length = at.parse_cmgl_header(ln)
            except AtParseError:
                continue
            body = lines[i + 1].strip() if i + 1 < len(lines) else ""
            listed.append(Stored(self.mem1, index, got, "" if body.startswith("+CMGL:") else body))
        return listed


def same_submit(stored_hex: str, written_hex: str) -> bool:
    """True when two SMS-SUBMIT PDUs (hex, each with its SMSC field) carry the same
    message: their TPDUs are equal but for TP-MR (the second octet), which a
    modem may fill in when it sends, and for the SMSC field, which it may fill
    in when it stores."""
    def tpdu(hexpdu: str) -> str:
        hexpdu = "".join(hexpdu.split()).upper()
        try:
            body = hexpdu[2 + 2 * int(hexpdu[:2], 16):]
        except ValueError:
            return hexpdu
        return body[:2] + body[4:]

    return tpdu(stored_hex) == tpdu(written_hex)
