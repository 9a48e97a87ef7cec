"""``GET /metrics``: the Prometheus exposition, rendered by ``prometheus_client``.

:class:`Collector` is a custom collector over the Core's read model (the
line views, the queue and outbox figures: read-only queries, no health-check
write) and the :class:`~agent.metrics_recorder.Recorder`'s counters and
histograms.  :func:`registry` puts it in a private ``CollectorRegistry``,
with the library's process and platform collectors (never the library's
global default registry: two agents in one process, as in the tests, keep
apart).  :func:`exposition` answers in the format the scraper's ``Accept``
asks for (the text format 0.0.4 by default, OpenMetrics when asked).

Metrics (``line`` labels are the configured line names):

===============================================  =========  ==============================================
``sms_agent_info{box_id,version}``               gauge      always 1
``sms_agent_clock_ok``                           gauge      0 when the clock reads a year before 2024
``sms_agent_line_online{line}``                  gauge      1 when the modem answers (ready or busy)
``sms_agent_line_registered{line}``              gauge      1 when its SIM is on the network
``sms_agent_line_usable{line}``                  gauge      1 when it can take a message now
``sms_agent_line_state{line,state}``             gauge      1 for the line's state, 0 for the others
``sms_agent_line_signal_dbm{line}``              gauge      absent while unknown
``sms_agent_line_sent_parts_total{line}``        counter    parts the network accepted
``sms_agent_line_failed_parts_total{line}``      counter    parts refused or timed out
``sms_agent_line_received_parts_total{line}``    counter    parts (PDUs) read from the modem
``sms_agent_line_daily_sent_parts{line}``        gauge      the SIM's quota counter today (0 at midnight)
``sms_agent_line_daily_limit_parts{line}``       gauge      absent when the line has no daily limit
``sms_agent_line_send_duration_seconds{line}``   histogram  line handed a message -> its result
``sms_agent_queue_depth``                        gauge      messages waiting or being sent (unsent + sending)
``sms_agent_queue_messages{state}``              gauge      the same by state: unsent, sending
``sms_agent_queue_to_sent_seconds``              histogram  a message's create_date -> recorded sent
``sms_agent_messages_total{result}``             counter    the router's final outcomes: sent, failed, expired
``sms_agent_outbox_pending{destination}``        gauge      events waiting for a push destination
``sms_agent_outbox_oldest_age_seconds{destination}``  gauge  absent when nothing waits
``sms_agent_outbox_dropped_total{destination}``  counter    events given up (kept in the database)
``sms_agent_mqtt_configured``                    gauge
``sms_agent_mqtt_connected``                     gauge      0 when not configured
``sms_agent_http_requests_total{dialect,code}``  counter    every request the HTTP server answered
``sms_agent_http_accept_duration_seconds{dialect}``  histogram  request to a sending endpoint -> its reply
``sms_agent_door_submits_total{door,status}``    counter    submit_sm / CMPP_SUBMIT answered, by status (0x..)
``sms_agent_door_accept_duration_seconds{door}``  histogram  a submission read -> its response written
``sms_agent_door_sessions{door}``                gauge      connections to the SMPP / CMPP door now
``process_*``, ``process_start_time_seconds``    ...        the library's ProcessCollector (Linux /proc)
``python_info{implementation,major,...}``        gauge      the library's PlatformCollector
===============================================  =========  ==============================================

What a counter counts from, and what survives a restart: the line counters
are the line workers' own counts (:class:`agent.model.LineState`), which
only ever go up while the process runs, and start at 0 with it; midnight
does not touch them (the SIM's quota counter, which midnight resets, is the
``daily_sent_parts`` gauge).  Neither the store's rows (purged after
``[queue] purge_days``) nor the SIM's total (a reservation released, an
operator's reset) could be a counter: both go down.  The recorder's counters
and histograms start at 0 with the process too; ``outbox_dropped_total`` is
kept in the database and survives restarts.  ``dialect`` is the module
whose route answered (``goip``, ``jindi``, ``simctl``, ``status``...), or
``none`` when no route matched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily,
                                            Metric)
from prometheus_client.registry import Collector as _Collector
from prometheus_client.utils import floatToGoString

from .. import __version__
from ..metrics_recorder import RESULTS, Histogram, HistogramSnapshot, Recorder
from ..model import BUSY, DISABLED, OFFLINE, READY, RECOVERING, STARTING, STOPPED
from .status_data import CLOCK_MIN_YEAR

if TYPE_CHECKING:
    from ..core import Core
    from ..lineview import LineView

STATES = (STARTING, READY, BUSY, RECOVERING, OFFLINE, DISABLED, STOPPED)
_QUEUE = (("unsent", "U"), ("sending", "Q"))


class Collector(_Collector):
    """The agent's metrics (see the module doc), read afresh at every scrape.

    ``clock`` gives the epoch seconds (the clock check, the outbox's ages)."""

    def __init__(self, core: Core, recorder: Recorder, *, box_id: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.core = core
        self.recorder = recorder
        self.box_id = box_id
        self.clock = clock

    def describe(self) -> list[Metric]:
        return []  # registering reads nothing; the names are only known at a scrape

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        yield _gauge("sms_agent_info", "The box and the agent's version.", {"box_id": self.box_id,
                                                                           "version": __version__}, 1)
        yield _gauge("sms_agent_clock_ok", "0 when the clock is obviously wrong (quotas count wrong days).",
                     {}, int(time.gmtime(now).tm_year >= CLOCK_MIN_YEAR))
        views = self.core.lines_view(counts_today=False)
        yield from _lines(views)
        yield _histograms("sms_agent_line_send_duration_seconds",
                          "Seconds from handing a message to a line until the line's result.",
                          self.recorder.send_duration, known=[(v.name,) for v in views])
        yield from self._queue()
        yield from self._outbox(now)
        uplink = getattr(self.core, "uplink", None)
        yield _gauge("sms_agent_mqtt_configured", "1 when an MQTT uplink is configured.", {}, int(uplink is not None))
        yield _gauge("sms_agent_mqtt_connected", "1 while the MQTT uplink is connected.", {},
                     int(bool(uplink is not None and getattr(uplink, "connected", False))))
        requests = CounterMetricFamily("sms_agent_http_requests", "HTTP requests answered, by dialect and status code.",
                                       labels=("dialect", "code"))
        for (dialect, code), n in sorted(self.recorder.http_requests.snapshot().items()):
            requests.add_metric((dialect, code), n)
        yield requests
        yield _histograms("sms_agent_http_accept_duration_seconds",
                          "Seconds from a request to a sending endpoint until its reply.", self.recorder.http_accept)
        submits = CounterMetricFamily("sms_agent_door_submits", "Submissions a binary door (smpp, cmpp) answered,"
                                      " by the status answered (0 accepted).", labels=("door", "status"))
        for (door, status), n in sorted(self.recorder.door_submits.snapshot().items()):
            submits.add_metric((door, status), n)
        yield submits
        yield _histograms("sms_agent_door_accept_duration_seconds",
                          "Seconds from a submission read by a binary door until its response was written.",
                          self.recorder.door_accept)
        sessions = GaugeMetricFamily("sms_agent_door_sessions", "Connections to a binary door now.", labels=("door",))
        for door, n in sorted(self.recorder.door_sessions.items()):
            sessions.add_metric((door,), n)
        yield sessions

    def _queue(self) -> Iterator[Metric]:
        depths = self.core.queue_depths()
        yield _gauge("sms_agent_queue_depth", "Messages waiting to be sent or being sent.", {},
                     sum(depths[code] for _, code in _QUEUE))
        by_state = GaugeMetricFamily("sms_agent_queue_messages", "Messages waiting (unsent) or being sent (sending).",
                                     labels=("state",))
        for name, code in _QUEUE:
            by_state.add_metric((name,), depths[code])
        yield by_state
        yield _histograms("sms_agent_queue_to_sent_seconds",
                          "Seconds from a message's create_date until it was recorded sent (to the second).",
                          self.recorder.queue_to_sent, known=[()])
        outcomes = CounterMetricFamily("sms_agent_messages", "Messages the router finished: sent, failed or expired.",
                                       labels=("result",))
        counts = self.recorder.messages.snapshot()
        for result in RESULTS:
            outcomes.add_metric((result,), counts.get((result,), 0))
        yield outcomes

    def _outbox(self, now: float) -> Iterator[Metric]:
        outbox = sorted(self.core.outbox_stats().items())
        pending = GaugeMetricFamily("sms_agent_outbox_pending", "Events waiting for a push destination.",
                                    labels=("destination",))
        oldest = GaugeMetricFamily("sms_agent_outbox_oldest_age_seconds", "Age of the oldest waiting event.",
                                   labels=("destination",))
        dropped = CounterMetricFamily("sms_agent_outbox_dropped", "Events given up for a destination.",
                                      labels=("destination",))
        for destination, s in outbox:
            pending.add_metric((destination,), s["pending"])
            if s["oldest"] is not None:
                oldest.add_metric((destination,), round(max(0.0, now - s["oldest"]), 1))
            dropped.add_metric((destination,), s["dropped"])
        yield from (pending, oldest, dropped)


def _gauge(name: str, help_text: str, labels: dict[str, str], value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text, labels=tuple(labels))
    family.add_metric(tuple(labels.values()), value)
    return family


def _lines(views: list[LineView]) -> Iterator[Metric]:
    def per_line(name: str, help_text: str, fn: Callable[[LineView], float | None],
                 family: type[GaugeMetricFamily] | type[CounterMetricFamily] = GaugeMetricFamily) -> Metric:
        out = family(name, help_text, labels=("line",))
        for v in views:
            value = fn(v)
            if value is not None:  # unknown (signal) or none (limit): no sample rather than a made-up one
                out.add_metric((v.name,), value)
        return out

    yield per_line("sms_agent_line_online", "1 when the line's modem answers.", lambda v: int(v.online))
    yield per_line("sms_agent_line_registered", "1 when the line's SIM is registered on the network.",
                   lambda v: int(v.registered))
    yield per_line("sms_agent_line_usable", "1 when the line can take a message now.", lambda v: int(v.usable))
    state = GaugeMetricFamily("sms_agent_line_state", "1 for the line worker's current state.",
                              labels=("line", "state"))
    for v in views:
        for s in STATES:
            state.add_metric((v.name, s), int(v.state == s))
    yield state
    yield per_line("sms_agent_line_signal_dbm", "Signal strength in dBm (absent while unknown).",
                   lambda v: v.signal_dbm)
    yield per_line("sms_agent_line_sent_parts", "SMS parts the network accepted on the line (since the start).",
                   lambda v: v.sent_parts, CounterMetricFamily)
    yield per_line("sms_agent_line_failed_parts", "SMS parts refused or timed out on the line (since the start).",
                   lambda v: v.failed_parts, CounterMetricFamily)
    yield per_line("sms_agent_line_received_parts", "SMS parts read from the line's modem (since the start).",
                   lambda v: v.received, CounterMetricFamily)
    yield per_line("sms_agent_line_daily_sent_parts", "Parts the line's SIM sent today (quota counter, 0 at midnight).",
                   lambda v: v.daily_sent)
    yield per_line("sms_agent_line_daily_limit_parts", "Daily quota of the line in parts (absent: unlimited).",
                   lambda v: v.daily_limit)


def _histograms(name: str, help_text: str, source: Histogram, known: list[tuple[str, ...]] | None = None) -> Metric:
    """A histogram family from one of the recorder's: every series it saw, and
    the ``known`` label values it has not seen yet, as empty series."""
    family = HistogramMetricFamily(name, help_text, labels=source.labels)
    series = source.snapshot()
    for key in known or ():
        series.setdefault(key, source.empty())
    for key, snap in sorted(series.items()):
        family.add_metric(key, _buckets(snap), snap.total)
    return family


def _buckets(snap: HistogramSnapshot) -> list[tuple[str, float]]:
    return [(floatToGoString(bound), n) for bound, n in zip(snap.bounds, snap.counts)]


def registry(core: Core, recorder: Recorder, *, box_id: str,
             clock: Callable[[], float] = time.time) -> CollectorRegistry:
    """Given the Core, the recorder and the box id, return a private registry
    holding the agent's :class:`Collector` and the library's process and
    platform collectors."""
    reg = CollectorRegistry()
    reg.register(Collector(core, recorder, box_id=box_id, clock=clock))
    ProcessCollector(registry=reg)
    PlatformCollector(registry=reg)
    return reg


def exposition(reg: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """Given a registry and the scraper's ``Accept`` header, return the body and
    its content type: OpenMetrics when the header asks for it, else the text
    format 0.0.4."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(reg), content_type
