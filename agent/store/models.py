"""peewee models of the tables that :mod:`agent.store.db` creates.

The schema itself is frozen SQL in the migrations (the Jindi tables need exact
types and defaults, and a migration must not change when a model does); these
models mirror it for queries, and a test checks that they agree column by
column.  The models here are unbound: :func:`bind` returns subclasses bound to
one database, so that two stores in one process (tests, the CLI) never share
or swap a binding.
"""

from __future__ import annotations

from dataclasses import dataclass

from peewee import (
    AutoField,
    CharField,
    CompositeKey,
    Database,
    Field,
    FloatField,
    IntegerField,
    Model,
    TextField,
)


class Char(CharField):
    field_type = "CHAR"


class LocalDateTime(Field):
    """Naive local time as text ``'YYYY-MM-DD HH:MM:SS'`` (see :mod:`agent.store.times`)."""

    field_type = "DATETIME"


class _Base(Model):
    class Meta:
        legacy_table_names = False


class OutMessage(_Base):
    id = AutoField()
    type = Char(max_length=1, default="O")
    recipient = Char(max_length=16)
    text = TextField(null=True)
    wap_url = TextField(null=True)
    wap_expiry_date = LocalDateTime(null=True)
    wap_signal = Char(max_length=1, null=True)
    create_date = LocalDateTime()
    originator = Char(max_length=16, default="")
    encoding = Char(max_length=1, default="7")
    status_report = IntegerField(default=0)
    flash_sms = IntegerField(default=0)
    src_port = IntegerField(default=-1)
    dst_port = IntegerField(default=-1)
    sent_date = LocalDateTime(null=True)
    ref_no = Char(max_length=64, null=True)
    priority = IntegerField(default=0)
    status = Char(max_length=1, default="U")
    errors = IntegerField(default=0)
    gateway_id = Char(max_length=64, default="*")
    user_id = Char(max_length=20, null=True)
    task_id = IntegerField(null=True)
    sub_task = TextField(null=True)
    client_ref = TextField(null=True)
    provider = TextField(default="")
    requested_gateway = TextField(default="*")
    line = TextField(null=True)
    iccid = TextField(null=True)
    parts = IntegerField(null=True)
    sent_parts = IntegerField(default=0)
    error_code = IntegerField(null=True)
    failure_cause = TextField(null=True)
    in_doubt = IntegerField(default=0)
    scheduled = LocalDateTime(null=True)
    expires = LocalDateTime(null=True)
    not_before = FloatField(null=True)
    delivery = TextField(null=True)
    delivered_date = LocalDateTime(null=True)
    updated = FloatField(null=True)
    quota_day = TextField(null=True)  # local day the SIM quota was reserved on (while 'Q')
    stored = TextField(null=True)  # send_mode = store: the parts' places in the modem's storage

    class Meta:
        table_name = "smsserver_out"


class InMessage(_Base):
    id = AutoField()
    process = IntegerField(default=0)
    originator = Char(max_length=16, null=True)
    type = Char(max_length=1, null=True)
    encoding = Char(max_length=1, null=True)
    message_date = LocalDateTime(null=True)
    receive_date = LocalDateTime(null=True)
    text = TextField(null=True)
    original_ref_no = Char(max_length=64, null=True)
    original_receive_date = LocalDateTime(null=True)
    gateway_id = Char(max_length=64, null=True)
    line = TextField(null=True)
    pdu = TextField(null=True)
    mo_key = TextField(null=True, unique=True)
    parts = IntegerField(default=1)
    reference = IntegerField(null=True)
    report_status = IntegerField(null=True)
    message_id = IntegerField(null=True)
    error = TextField(null=True)

    class Meta:
        table_name = "smsserver_in"


class Call(_Base):
    id = AutoField()
    call_date = LocalDateTime(null=True)
    gateway_id = Char(max_length=64, null=True)
    caller_id = Char(max_length=16, null=True)
    rings = IntegerField(default=1)

    class Meta:
        table_name = "smsserver_calls"


class Sim(_Base):
    iccid = TextField(primary_key=True)
    imsi = TextField(null=True)
    imei_last = TextField(null=True)
    line_last = TextField(null=True)
    provider = TextField(default="")
    daily_sent = IntegerField(default=0)
    daily_day = TextField(null=True)
    total_sent = IntegerField(default=0)
    updated = FloatField(null=True)

    class Meta:
        table_name = "sims"


class Line(_Base):
    name = TextField(primary_key=True)
    device = TextField(null=True)
    state = TextField(null=True)
    signal_dbm = IntegerField(null=True)
    registered = IntegerField(default=0)
    operator = TextField(null=True)
    iccid = TextField(null=True)
    imei = TextField(null=True)
    imsi = TextField(null=True)
    number = TextField(null=True)
    model = TextField(null=True)
    provider = TextField(default="")
    last_error = TextField(null=True)
    updated = FloatField(null=True)

    class Meta:
        table_name = "lines"


class Task(_Base):
    id = AutoField()
    created = FloatField()
    source = TextField(default="")
    client_ref = TextField(default="")
    count = IntegerField(default=0)

    class Meta:
        table_name = "tasks"


class SentPart(_Base):
    id = AutoField()
    message_id = IntegerField()
    seq = IntegerField()
    line = TextField()
    reference = IntegerField(null=True)
    sent_at = FloatField()
    status = IntegerField(null=True)
    report_at = FloatField(null=True)

    class Meta:
        table_name = "sent_parts"


class MoPart(_Base):
    id = AutoField()
    line = TextField()
    sender = TextField()
    ref = IntegerField()
    total = IntegerField()
    seq = IntegerField()
    scts = TextField()
    text = TextField()
    encoding = Char(max_length=1)
    pdu = TextField(null=True)
    received = FloatField()
    message_id = IntegerField(null=True)  # the smsserver_in row it went into; NULL while waiting

    class Meta:
        table_name = "mo_parts"


class Outbox(_Base):
    id = AutoField()
    destination = TextField()
    kind = TextField()  # result, receipt, mo, call
    payload = TextField()  # JSON
    created = FloatField()
    attempts = IntegerField(default=0)
    next_attempt = FloatField()
    last_error = TextField(null=True)

    class Meta:
        table_name = "outbox"


class Cursor(_Base):
    consumer = TextField(primary_key=True)
    last_id = IntegerField(default=0)

    class Meta:
        table_name = "cursors"


class Submission(_Base):
    id = AutoField()
    source = TextField()
    client_ref = TextField()
    task_id = IntegerField(null=True)
    first_id = IntegerField()
    last_id = IntegerField()
    created = FloatField()
    fingerprint = TextField(null=True)  # digest of what the submission carried

    class Meta:
        table_name = "submissions"


class CursorRead(_Base):
    consumer = TextField()
    id = IntegerField()

    class Meta:
        table_name = "cursor_reads"
        primary_key = CompositeKey("consumer", "id")


class OutboxDropped(_Base):
    destination = TextField(primary_key=True)
    dropped = IntegerField(default=0)
    updated = FloatField(null=True)

    class Meta:
        table_name = "outbox_dropped"


MODELS: tuple[type[_Base], ...] = (OutMessage, InMessage, Call, Sim, Line, Task, SentPart, MoPart, Outbox, Cursor,
                                   Submission, CursorRead, OutboxDropped)


@dataclass(frozen=True)
class Models:
    """The models bound to one database (attribute names follow the tables)."""

    out: type[OutMessage]
    inbox: type[InMessage]
    calls: type[Call]
    sims: type[Sim]
    lines: type[Line]
    tasks: type[Task]
    sent_parts: type[SentPart]
    mo_parts: type[MoPart]
    outbox: type[Outbox]
    cursors: type[Cursor]
    submissions: type[Submission]
    cursor_reads: type[CursorRead]
    outbox_dropped: type[OutboxDropped]


def bind(database: Database) -> Models:
    """Given a database, return subclasses of every model bound to it; the
    module's own classes stay unbound."""
    bound = []
    for model in MODELS:
        meta = type("Meta", (), {"database": database, "table_name": model._meta.table_name})
        bound.append(type(model.__name__, (model,), {"Meta": meta, "__module__": __name__}))
    return Models(*bound)  # type: ignore[arg-type]
