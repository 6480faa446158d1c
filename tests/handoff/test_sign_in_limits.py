"""Several gateways give a password guesser one budget: wrong passwords are counted in Redis."""

from __future__ import annotations

from handoff.sessions import LoginThrottle
from handoff.sign_in_limits import SharedSignInFailures
from tests.handoff_support import PASSWORD, start, user


async def test_failures_on_one_instance_slow_the_pair_on_another(redis_url) -> None:  # type: ignore[no-untyped-def]
    now = [1_000.0]
    rules = LoginThrottle(free_failures=3, base_delay=2.0, max_delay=60.0)
    first, second = (SharedSignInFailures(redis_url, rules, clock=lambda: now[0]) for _ in range(2))
    try:
        for counts in (first, second, first):
            assert await counts.wait("c-gd", "203.0.113.9") == 0
            await counts.failed("c-gd", "203.0.113.9")
        assert await second.wait("c-gd", "203.0.113.9") == 2.0  # the fourth attempt waits, wherever it lands
        assert await first.wait("c-gd", "198.51.100.7") == 0  # the counsellor's own address is not slowed
        now[0] += 2.0
        assert await second.wait("c-gd", "203.0.113.9") == 0
        await second.failed("c-gd", "203.0.113.9")
        assert await first.wait("c-gd", "203.0.113.9") == 4.0  # the delay doubles across instances
        await first.succeeded("c-gd", "203.0.113.9")
        assert await second.wait("c-gd", "203.0.113.9") == 0
    finally:
        await first.close()
        await second.close()


async def test_spraying_usernames_across_instances_spends_one_address_budget(redis_url) -> None:  # type: ignore[no-untyped-def]
    now = [1_000.0]
    rules = LoginThrottle(address_budget=4, address_window=100.0)
    instances = [SharedSignInFailures(redis_url, rules, clock=lambda: now[0]) for _ in range(2)]
    try:
        for n in range(4):
            await instances[n % 2].failed(f"guess-{n}", "203.0.113.9")
            now[0] += 1
        assert await instances[0].wait("guess-9", "203.0.113.9") == 100.0 - 4
        assert await instances[1].wait("guess-9", "198.51.100.7") == 0
        now[0] += 97  # the first failure leaves the window
        assert await instances[1].wait("guess-9", "203.0.113.9") == 0
    finally:
        for counts in instances:
            await counts.close()


async def test_no_usernames_or_addresses_are_written_to_redis(redis_url) -> None:  # type: ignore[no-untyped-def]
    import redis.asyncio as redis

    counts = SharedSignInFailures(redis_url, LoginThrottle())
    client = redis.from_url(redis_url)
    try:
        await counts.failed("counsellor-gd", "203.0.113.9")
        keys = b" ".join(await client.keys("*"))
        assert b"counsellor" not in keys and b"203.0.113" not in keys and keys.count(b"youthdesk:sign-in") == 2
    finally:
        await counts.close()
        await client.aclose()


async def test_a_redis_outage_leaves_the_local_throttle_in_charge() -> None:
    counts = SharedSignInFailures("redis://127.0.0.1:1", LoginThrottle())  # nothing listens there
    try:
        await counts.failed("c-gd", "203.0.113.9")
        assert await counts.wait("c-gd", "203.0.113.9") == 0
        await counts.succeeded("c-gd", "203.0.113.9")
    finally:
        await counts.close()


async def test_two_gateways_share_the_wrong_password_budget(redis_url, start_app, settings) -> None:  # type: ignore[no-untyped-def]
    service = settings.service.model_copy(update={"redis_url": redis_url, "trusted_proxies": ["127.0.0.1"]})
    shared = settings.model_copy(update={"service": service})
    gateways = [await start(start_app, shared) for _ in range(2)]  # two apps on one store: two instances
    await user(gateways[0], "counsellor-gd", desk="gd")

    async def sign_in(n: int, password: str) -> int:
        response = await gateways[n % 2].post("/api/v1/auth/login", json={"username": "counsellor-gd",
                                                                          "password": password},
                                              headers={"X-Forwarded-For": "203.0.113.66"})
        return response.status

    # Alternating between the instances, the guesser still gets five free failures in all, not ten.
    assert [await sign_in(n, "wrong-guess") for n in range(5)] == [401] * 5
    assert await sign_in(5, "wrong-guess") == 429
    assert await sign_in(6, PASSWORD) == 429

