""".NET DateTime text: Newtonsoft's trimming rules, the accepted input forms, 100 ns round trips."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime, timedelta, timezone

import pytest

from taskhub.errors import FormatError
from taskhub.format.timefmt import NetDateTime, format_datetime, format_datetimeoffset, parse_datetime, to_utc

T0 = datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("dt", "text"),
    [
        (T0, "2024-05-01T12:00:01Z"),
        (T0.replace(microsecond=500000), "2024-05-01T12:00:01.5Z"),
        (T0.replace(microsecond=100), "2024-05-01T12:00:01.0001Z"),
        (T0.replace(microsecond=756132), "2024-05-01T12:00:01.756132Z"),
        (NetDateTime.of(T0.replace(microsecond=626892), 2), "2024-05-01T12:00:01.6268922Z"),
        (NetDateTime.of(T0, 1), "2024-05-01T12:00:01.0000001Z"),
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00Z"),
    ],
)
def test_format_trims_trailing_zeros_and_drops_an_empty_fraction(dt: datetime, text: str) -> None:
    assert format_datetime(dt) == text


def test_format_converts_aware_values_to_utc() -> None:
    tokyo = timezone(timedelta(hours=9))
    assert format_datetime(datetime(2024, 5, 1, 21, 0, 1, 500000, tzinfo=tokyo)) == "2024-05-01T12:00:01.5Z"
    shifted = NetDateTime(2024, 5, 1, 21, 0, 0, 1, tzinfo=tokyo, hundred_ns=5)
    assert format_datetime(shifted) == "2024-05-01T12:00:00.0000015Z"


def test_format_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_datetime(datetime(2024, 5, 1))
    with pytest.raises(ValueError, match="naive"):
        to_utc(datetime(2024, 5, 1))


@pytest.mark.parametrize(
    ("text", "expected", "hundred_ns"),
    [
        ("2024-05-01T12:00:01Z", T0, 0),
        ("2024-05-01T12:00:01.5Z", T0.replace(microsecond=500000), 0),
        ("2024-05-01T12:00:01.1234567Z", T0.replace(microsecond=123456), 7),
        ("2024-05-01T12:00:01.12Z", T0.replace(microsecond=120000), 0),
        ("2024-05-01T12:00:01+00:00", T0, 0),
        ("2024-05-01T12:00:01.1234567+00:00", T0.replace(microsecond=123456), 7),
        ("2024-05-01T21:00:01.5+09:00", T0.replace(microsecond=500000), 0),
        ("2024-05-01T07:30:01-04:30", T0.replace(hour=12), 0),
        ("2024-05-01T12:00:01", T0, 0),
        ("2024-05-01T12:00:01.25", T0.replace(microsecond=250000), 0),
    ],
)
def test_parse_accepts_zones_offsets_and_no_zone(text: str, expected: datetime, hundred_ns: int) -> None:
    parsed = parse_datetime(text)
    assert isinstance(parsed, NetDateTime)
    assert parsed.tzinfo is UTC
    assert parsed == NetDateTime.of(expected, hundred_ns)
    assert parsed.hundred_ns == hundred_ns


@pytest.mark.parametrize(
    "text",
    [
        "2023-04-05T03:31:23.6268922Z",
        "2019-12-08T23:18:39.756132Z",
        "2024-05-01T12:00:01.5Z",
        "2024-05-02T00:00:00Z",
        "2024-05-01T12:00:00.0000001Z",
        "2024-05-01T12:00:00.1000001Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.9999999Z",
    ],
)
def test_every_dotnet_utc_value_round_trips(text: str) -> None:
    assert format_datetime(parse_datetime(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2024-05-01",
        "2024-05-01 12:00:01Z",
        "2024-05-01T12:00:01.12345678Z",
        "2024-13-01T12:00:01Z",
        "2024-02-30T12:00:01Z",
        "2024-05-01T12:00:01+24:00",
        "0001-01-01T00:00:00+01:00",
        "2024-05-01T12:00:01Zjunk",
    ],
)
def test_invalid_text_raises_format_error_naming_it(text: str) -> None:
    with pytest.raises(FormatError) as info:
        parse_datetime(text)
    assert repr(text) in str(info.value)
    assert "\n" not in str(info.value)


def test_datetimeoffset_text() -> None:
    assert format_datetimeoffset(T0) == "2024-05-01T12:00:01+00:00"
    assert format_datetimeoffset(NetDateTime.of(T0.replace(microsecond=123456), 7)) == (
        "2024-05-01T12:00:01.1234567+00:00"
    )
    minus = timezone(-timedelta(hours=5, minutes=30))
    assert format_datetimeoffset(datetime(2024, 1, 1, 6, 30, tzinfo=minus)) == "2024-01-01T06:30:00-05:30"
    with pytest.raises(ValueError):
        format_datetimeoffset(datetime(2024, 1, 1))


def test_net_datetime_compares_at_100ns_resolution() -> None:
    a = NetDateTime.of(T0, 3)
    b = NetDateTime.of(T0, 4)
    assert a != T0 and T0 != a  # noqa: SIM300 (the reflected comparison is the point)
    assert NetDateTime.of(T0, 0) == T0 and hash(NetDateTime.of(T0, 0)) == hash(T0)
    assert T0 < a < b and b > a > T0 and a <= a and a >= a
    assert a < T0 + timedelta(microseconds=1)
    assert sorted([b, T0, a]) == [T0, a, b]


def test_net_datetime_survives_copy_and_pickle() -> None:
    value = parse_datetime("2024-05-01T12:00:01.1234567Z")
    for clone in (copy.copy(value), copy.deepcopy(value), pickle.loads(pickle.dumps(value))):
        assert isinstance(clone, NetDateTime)
        assert clone == value
        assert format_datetime(clone) == "2024-05-01T12:00:01.1234567Z"
    assert "hundred_ns=7" in repr(value)
    with pytest.raises(ValueError):
        NetDateTime(2024, 1, 1, hundred_ns=10)
