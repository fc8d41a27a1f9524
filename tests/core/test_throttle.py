"""The doors' limits (core.throttle) against the real Redis cache, with the clock moved by the
caller: counts per kind of caller, the refusal and when to try again, a new window."""

import pytest

from core.throttle import Rate, Refused, door_knock

T0 = 1_800_000_000.0


@pytest.fixture(autouse=True)
def doors(settings):
    settings.DOOR_LIMITS = {"login": {"ip": "5/10m", "account": "3/10m"}}


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("5/10m", Rate(5, 600)),
        ("30/h", Rate(30, 3600)),
        ("100/60s", Rate(100, 60)),
        ("2/d", Rate(2, 86400)),
        (" 7 / 15 ", Rate(7, 15)),
    ],
)
def test_rates_read_as_count_per_window(text, rate):
    assert Rate.parse(text) == rate


@pytest.mark.parametrize("text", ["", "five/m", "0/m", "5/0m", "5/10w", "5"])
def test_a_rate_that_means_nothing_is_refused(text):
    with pytest.raises(ValueError, match="rate"):
        Rate.parse(text)


def test_an_account_gets_its_attempts_then_waits_until_its_window_ends():
    for n in range(3):
        door_knock("login", {"ip": f"198.51.100.{n}", "account": "mario"}, now=T0 + n)

    with pytest.raises(Refused) as refused:
        door_knock("login", {"ip": "198.51.100.9", "account": "Mario"}, now=T0 + 100)

    assert refused.value.retry_after == 500
    assert refused.value.detail == "Too many attempts. Please try again in 9 minutes."


def test_an_address_is_counted_across_accounts():
    for n in range(5):
        door_knock("login", {"ip": "203.0.113.7", "account": f"user{n}"}, now=T0)

    with pytest.raises(Refused):
        door_knock("login", {"ip": "203.0.113.7", "account": "someone-else"}, now=T0 + 1)
    door_knock("login", {"ip": "203.0.113.8", "account": "someone-else"}, now=T0 + 1)


def test_a_new_window_starts_once_the_last_one_ended():
    for n in range(3):
        door_knock("login", {"account": "mario"}, now=T0 + n)
    with pytest.raises(Refused) as refused:
        door_knock("login", {"account": "mario"}, now=T0 + 599)
    assert refused.value.retry_after == 1
    assert refused.value.detail == "Too many attempts. Please try again in 1 second."

    door_knock("login", {"account": "mario"}, now=T0 + 600)
    door_knock("login", {"account": "mario"}, now=T0 + 601)


def test_doors_and_kinds_without_limits_count_nothing():
    for n in range(50):
        door_knock("unknown_door", {"ip": "203.0.113.7"}, now=T0 + n)
        door_knock("login", {"ip": "", "account": None, "other": "x"}, now=T0 + n)


def test_without_redis_the_doors_stay_open(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    for n in range(10):
        door_knock("login", {"account": "mario"}, now=T0 + n)
