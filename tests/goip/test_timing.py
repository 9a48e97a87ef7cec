"""The GoIP channel's timers (agent.goip.timing): the retransmission timeout from round trips
(RFC 6298, Karn's rule kept by the caller) and the expected time of a SEND's outcome."""

from __future__ import annotations

import pytest

from agent.goip.timing import RTO_FLOOR, RTO_INITIAL, RoundTrip, SendTime


def test_before_any_sample_the_initial_timeout_within_the_ceiling():
    assert RoundTrip(5.0).timeout == RTO_INITIAL
    assert RoundTrip(0.05).timeout == 0.05  # a configured reply_timeout below the initial one wins
    assert RoundTrip(5.0).backoff(0) == RTO_INITIAL and RoundTrip(5.0).backoff(3) == RTO_INITIAL * 8
    assert RoundTrip(1.0).backoff(10) == 1.0 and RoundTrip(1.0).backoff(10_000) == 1.0


def test_samples_make_the_timeout_follow_the_box_within_floor_and_ceiling():
    fast = RoundTrip(5.0)
    for _ in range(20):
        fast.sample(0.001)
    assert fast.timeout == RTO_FLOOR  # a LAN box: the floor, not 1 ms
    slow = RoundTrip(5.0)
    for _ in range(50):
        slow.sample(0.3)
    assert slow.timeout == pytest.approx(0.3, abs=0.01)
    jumpy = RoundTrip(5.0)
    for rtt in (0.1, 0.5) * 10:
        jumpy.sample(rtt)
    assert 0.5 < jumpy.timeout <= 5.0  # the variation counts four times
    ceiling = RoundTrip(0.2)
    ceiling.sample(3.0)
    assert ceiling.timeout == 0.2
    ceiling.sample(-1.0)  # ignored
    assert ceiling.srtt == 3.0


def test_an_answer_only_to_a_resend_keeps_the_backed_off_timeout_until_a_sample():
    rt = RoundTrip(5.0)
    rt.resent_answered(2)  # answered after two resends: the box is slower than the initial guess
    assert rt.timeout == RTO_INITIAL * 4
    rt.resent_answered(0)
    assert rt.timeout == RTO_INITIAL * 4
    rt.sample(0.01)  # from now on the samples decide
    assert rt.timeout == pytest.approx(0.03)
    rt.resent_answered(3)
    assert rt.timeout == pytest.approx(0.03)


def test_the_outcome_of_a_send_is_asked_for_when_it_should_be_there():
    st = SendTime()
    assert st.first_poll(0.0, 0.02) == pytest.approx(2.0 + 0.04)  # 2 s per SMS until timed
    for _ in range(30):
        st.sample(3.0)
    assert st.estimate == pytest.approx(3.0, abs=0.01)
    assert st.first_poll(0.5, 0.02) == pytest.approx(2.5 + 0.04, abs=0.01)
    assert st.first_poll(10.0, 0.02) == 0.02  # late already: at once (after one timeout)
    assert st.poll_every(0.02, 5.0) == pytest.approx(3.0 / 32, abs=0.01)
    assert st.poll_every(0.2, 5.0) == 0.4 and st.poll_every(0.02, 0.05) == 0.05
    st.sample(-1)
    assert st.estimate == pytest.approx(3.0, abs=0.01)
