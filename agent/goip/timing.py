"""How long to wait for a GoIP box: what its channel's answers have taken so far.

A box on the LAN answers MSG, PASSWORD and SEND within milliseconds, but
takes seconds to send an SMS.  Waiting the configured ``reply_timeout``
(5 s) before resending a lost packet would cost a whole SMS's time per lost
datagram, so the resend waits what the answers have shown
(:class:`RoundTrip`, the estimator of RFC 6298), and the outcome of a SEND
the box said ``WAIT`` to is asked for when the SMS should be sent by now
(:class:`SendTime`).  Pure: no clock, no I/O; the caller gives the samples.
"""

from __future__ import annotations

RTO_FLOOR = 0.01  # seconds: never resend sooner (a resend is harmless, a flood is not)
RTO_INITIAL = 0.1  # seconds before the first measure: a box on the LAN answers in milliseconds
SEND_TIME = 2.0  # seconds a GoIP module is assumed to take per SMS until one was timed (2-5 s)


class RoundTrip:
    """The retransmission timeout of a box from its round-trip samples (RFC 6298):
    ``initial`` until the first sample (doubled each time only a resend got an
    answer: a slow box is not flooded), then SRTT + 4 RTTVAR; always within
    [``floor``, ``ceiling``], the ceiling being the configured reply_timeout.
    Only answers to a packet sent once may be sampled (Karn's rule): the caller
    keeps to it and tells :meth:`resent_answered` otherwise."""

    def __init__(self, ceiling: float, floor: float = RTO_FLOOR, initial: float = RTO_INITIAL) -> None:
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self.initial = min(max(initial, self.floor), ceiling)
        self.srtt: float | None = None
        self.rttvar = 0.0

    @property
    def timeout(self) -> float:
        """Seconds to wait for an answer before sending a packet again."""
        if self.srtt is None:
            return self.initial
        return min(self.ceiling, max(self.floor, self.srtt + 4 * self.rttvar))

    def resent_answered(self, tries: int) -> None:
        """A packet was answered after ``tries`` resends: no sample, but before any the
        initial timeout was too short for this box: keep the backed-off one (RFC 6298 5.7)."""
        if self.srtt is None and tries > 0:
            self.initial = self.backoff(tries)

    def backoff(self, tries: int) -> float:
        """The wait after the ``tries``-th resend of one packet: doubling, up to the ceiling."""
        return min(self.ceiling, self.timeout * 2 ** min(tries, 16))

    def sample(self, seconds: float) -> None:
        """One round trip, in seconds (negative ones are ignored)."""
        if seconds < 0:
            return
        if self.srtt is None:
            self.srtt, self.rttvar = seconds, seconds / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - seconds)
            self.srtt = 0.875 * self.srtt + 0.125 * seconds


class SendTime:
    """How long the channel's module takes per SMS (SEND to OK), smoothed."""

    def __init__(self, initial: float = SEND_TIME) -> None:
        self.estimate = initial

    def sample(self, seconds: float) -> None:
        if seconds >= 0:
            self.estimate = 0.75 * self.estimate + 0.25 * seconds

    def first_poll(self, elapsed: float, rto: float) -> float:
        """Seconds from now to the first question about a SEND answered WAIT ``elapsed``
        seconds after it went out: when the SMS should be sent, plus a margin."""
        return max(rto, self.estimate - elapsed + 2 * rto)

    def poll_every(self, rto: float, ceiling: float) -> float:
        """Seconds between later questions: a 32nd of the send time, within [2 x rto, ceiling]."""
        return min(ceiling, max(2 * rto, self.estimate / 32))
