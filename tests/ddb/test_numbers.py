"""DynamoDB numbers: syntax, range, canonical form, exact arithmetic."""

from __future__ import annotations

from decimal import Context, Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ddb import numbers as n
from ddb.errors import ValidationException
from tests.ddb.strategies import as_decimal, number_texts, parsed_numbers, reference_canonical, spellings

MAX = "9.9999999999999999999999999999999999999E+125"
MAX_TEXT = "9" * 38 + "0" * 88
MIN_TEXT = "0." + "0" * 129 + "1"


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("12", "12"),
        ("+5", "5"),  # accepted and read back without the sign (dynoxide#109)
        ("+1e2", "100"),
        ("1e+2", "100"),
        ("1.5E+3", "1500"),
        ("-7", "-7"),
        ("-0", "0"),
        ("+0", "0"),
        ("0e1000", "0"),
        ("000", "0"),
        ("0.00100", "0.001"),
        (".123", "0.123"),
        ("5.", "5"),
        ("0001.23", "1.23"),
        ("-17.4E37", "-174" + "0" * 36),
        ("1E+10", "10000000000"),
        ("1E-10", "0.0000000001"),
        ("0042.1200", "42.12"),
        ("1E125", "1" + "0" * 125),
        ("0000012345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
        ("-00001.23456789012345678901234567890123456780000", "-1.2345678901234567890123456789012345678"),
        ("0009.99999999999999999999999999999999999990000e125", MAX_TEXT),
        ("-0009.99999999999999999999999999999999999990000e125", "-" + MAX_TEXT),
        ("0001.000e-130", MIN_TEXT),
        ("-0001.000e-130", "-" + MIN_TEXT),
        (MAX, MAX_TEXT),
        ("1" + "0" * 100, "1" + "0" * 100),  # 101 digits, 1 significant
        ("1e-0000000000000000000000000000005", "0.00001"),  # long zero-padded exponent
    ],
)
def test_canonical_form(text: str, canonical: str) -> None:
    assert n.normalize_number(text) == canonical
    assert n.to_decimal(text) == Decimal(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The parameter cannot be converted to a numeric value"),
        ("b", "The parameter cannot be converted to a numeric value: b"),
        (" 1", "The parameter cannot be converted to a numeric value:  1"),
        ("1 ", "The parameter cannot be converted to a numeric value: 1 "),
        ("NaN", "The parameter cannot be converted to a numeric value: NaN"),
        ("Infinity", "The parameter cannot be converted to a numeric value: Infinity"),
        ("-Infinity", "The parameter cannot be converted to a numeric value: -Infinity"),
        ("1_000", "The parameter cannot be converted to a numeric value: 1_000"),
        ("0x10", "The parameter cannot be converted to a numeric value: 0x10"),
        ("1.2.3", "The parameter cannot be converted to a numeric value: 1.2.3"),
        ("1+2", "The parameter cannot be converted to a numeric value: 1+2"),
        ("+e2", "The parameter cannot be converted to a numeric value: +e2"),
        ("1e", "The parameter cannot be converted to a numeric value: 1e"),
        (".", "The parameter cannot be converted to a numeric value: ."),
        ("-", "The parameter cannot be converted to a numeric value: -"),
        ("--1", "The parameter cannot be converted to a numeric value: --1"),
        ("\u0661", "The parameter cannot be converted to a numeric value: \u0661"),  # Arabic-Indic 1
        ("1e126", n.OVERFLOW),
        ("-1e126", n.OVERFLOW),
        ("10E+125", n.OVERFLOW),
        ("1e99999999999999999999999", n.OVERFLOW),
        ("1e-131", n.UNDERFLOW),
        ("-1e-131", n.UNDERFLOW),
        ("0.9e-130", n.UNDERFLOW),
        ("1e-99999999999999999999999", n.UNDERFLOW),
        ("123456789012345678901234567890123456789", n.TOO_PRECISE),
        ("-1.23456789012345678901234567890123456789", n.TOO_PRECISE),
        # Range is checked before precision.
        ("1234567890123456789012345678901234567891e100", n.OVERFLOW),
        ("1.234567890123456789012345678901234567891e-140", n.UNDERFLOW),
    ],
)
def test_rejections(text: str, message: str) -> None:
    with pytest.raises(ValidationException) as info:
        n.normalize_number(text)
    assert info.value.message == message


def test_non_string_is_not_numeric() -> None:
    with pytest.raises(ValidationException, match="^The parameter cannot be converted to a numeric value$"):
        n.parse_number(5)


def test_messages_are_dynamodbs() -> None:
    assert n.OVERFLOW == (
        "Number overflow. Attempting to store a number with magnitude larger than supported range"
    )
    assert n.UNDERFLOW == (
        "Number underflow. Attempting to store a number with magnitude smaller than supported range"
    )
    assert n.TOO_PRECISE == "Attempting to store more than 38 significant digits in a Number"


def test_boundaries() -> None:
    assert n.normalize_number("1E-130") == MIN_TEXT
    assert n.normalize_number("1" * 38) == "1" * 38
    assert n.normalize_number("0." + "1" * 38) == "0." + "1" * 38
    assert n.parse_number("100") == (False, "1", 2)
    assert n.parse_number("-0.05") == (True, "5", -2)


@settings(max_examples=600)
@given(parsed_numbers().flatmap(lambda p: st.tuples(st.just(p), spellings(p))))
@example(((False, "1", -130), "0.0000000001e-120"))
@example(((True, "99999999999999999999999999999999999999", 88), "-" + MAX))
def test_any_spelling_normalises_to_the_reference(case: tuple[tuple[bool, str, int], str]) -> None:
    parsed, text = case
    value = as_decimal(parsed)
    canonical = n.normalize_number(text)
    assert canonical == reference_canonical(value)
    assert n.parse_number(text) == parsed
    assert n.to_decimal(text) == value
    # Idempotent, and the canonical form is a fixed point of parsing.
    assert n.normalize_number(canonical) == canonical
    assert n.format_number(n.parse_number(canonical)) == canonical


_EXACT = Context(prec=500, Emax=9999, Emin=-9999)


def _expected(value: Decimal) -> str:
    """What DynamoDB answers for an exact arithmetic result."""
    if value == 0:
        return "0"
    normal = _EXACT.normalize(value)
    digits = len(normal.as_tuple().digits)
    adjusted = normal.adjusted()
    if adjusted < -130:
        return n.UNDERFLOW
    if adjusted > 125 or digits > 38:
        return n.OVERFLOW  # DynamoDB says "overflow" for inexact results too
    return reference_canonical(normal)


def _result(fn, a: str, b: str) -> str:
    try:
        return fn(a, b)
    except ValidationException as exc:
        return exc.message or ""


@settings(max_examples=600)
@given(number_texts, number_texts)
@example("9e125", "9e125")
@example("1e50", "1")
@example("99999999999999999999999999999999999999", "1")
@example("1.1e-130", "-1e-130")
@example(MAX, "-" + MAX)
def test_add_and_sub_are_exact(a: str, b: str) -> None:
    da, db = Decimal(a), Decimal(b)
    assert _result(n.add, a, b) == _expected(_EXACT.add(da, db))
    assert _result(n.sub, a, b) == _expected(_EXACT.subtract(da, db))


def test_arithmetic_examples() -> None:
    assert n.add("0.1", "0.2") == "0.3"
    assert n.sub("0.3", "0.1") == "0.2"
    assert n.sub("100000000000000000000.00000001", "1") == "99999999999999999999.00000001"
    assert n.add("1", "10000000000000000000000") == "10000000000000000000001"
    assert n.add("99999999999999999999999999999999999999", "1") == "1" + "0" * 38
    assert n.add("-5", "5") == "0"
    for a, b in [("9e125", "9e125"), ("1e50", "1")]:
        with pytest.raises(ValidationException, match="^Number overflow"):
            n.add(a, b)
    with pytest.raises(ValidationException, match="^Number overflow"):
        n.sub("9e125", "-9e125")
    with pytest.raises(ValidationException, match="^Number underflow"):
        n.sub("1.1e-130", "1e-130")


def test_arithmetic_validates_operands() -> None:
    with pytest.raises(ValidationException, match="numeric value: x"):
        n.add("x", "1")


def test_from_decimal_edges() -> None:
    assert n.from_decimal(Decimal("-0")) == "0"
    assert n.from_decimal(Decimal("0E+50")) == "0"
    assert n.from_decimal(Decimal("1.500")) == "1.5"
    with pytest.raises(ValidationException, match="^Number overflow"):
        n.from_decimal(Decimal("NaN"))
    with pytest.raises(ValidationException, match="^Number overflow"):
        n.from_decimal(Decimal("Infinity"))
