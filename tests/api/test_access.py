"""Allow-lists and the submit-rate bucket the compatibility dialects answer with."""

from __future__ import annotations

from agent.api.access import AllowList, RateLimit


def test_an_empty_allow_list_allows_everyone() -> None:
    assert AllowList().allows("203.0.113.9")
    assert AllowList().allows(None)
    assert not AllowList()


def test_networks_and_single_addresses() -> None:
    allow = AllowList(["192.168.1.0/24", "127.0.0.1", "2001:db8::/32"])
    assert allow.allows("192.168.1.77")
    assert allow.allows("127.0.0.1")
    assert allow.allows("::ffff:127.0.0.1")  # IPv4-mapped, as a dual-stack socket reports it
    assert allow.allows("2001:db8::5")
    assert not allow.allows("192.168.2.1")
    assert not allow.allows("127.0.0.2")
    assert not allow.allows("")
    assert not allow.allows("not an address")


def test_rate_limit_refuses_beyond_the_rate_and_refills() -> None:
    now = [100.0]
    bucket = RateLimit(2, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    now[0] += 0.5  # one token back
    assert [bucket.take() for _ in range(2)] == [True, False]
    now[0] += 10  # never more than the burst
    assert [bucket.take() for _ in range(3)] == [True, True, False]


def test_rate_zero_means_no_limit() -> None:
    bucket = RateLimit(0)
    assert all(bucket.take() for _ in range(10_000))
