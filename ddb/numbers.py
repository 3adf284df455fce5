"""DynamoDB numbers: parsing, range checks, canonical form and exact arithmetic.

A DynamoDB number is a decimal with at most 38 significant digits and a magnitude
of 1E-130 .. 9.9999999999999999999999999999999999999E+125 (developer guide,
"Naming rules and data types"). The wire carries it as a string; DynamoDB stores
and returns it in plain decimal notation with leading and trailing zeros trimmed:
``"0001.000e-130"`` comes back as ``"0." + "0" * 129 + "1"`` and ``"1E125"`` as a
``1`` followed by 125 zeros (captured in dynalite's test/putItem.js and in a
conformance suite run against eu-west-2).

Accepted syntax is Java ``BigDecimal``'s, which DynamoDB parses with: an optional
sign (``+5`` is accepted and read back as ``5``), digits with an optional point
(``.5`` and ``5.`` are fine), an optional ``e``/``E`` exponent with optional sign.
No whitespace, ``NaN``, ``Infinity``, hex or underscores (scylladb
test/alternator/test_number.py, checked against DynamoDB; nubo-db/dynoxide#109).

Checks run in DynamoDB's order: syntax, overflow, underflow, precision.

Everything here works on a parsed triple ``(negative, digits, exponent)`` meaning
``-1**negative * int(digits) * 10**exponent`` with ``digits`` free of leading and
trailing zeros (``""`` for zero), so callers on the hot path (size, key encoding)
never re-derive it.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow, ROUND_HALF_EVEN, Underflow

from ddb.errors import ValidationException

MAX_DIGITS = 38
MAX_EXPONENT = 125  # adjusted exponent (power of ten of the leading digit)
MIN_EXPONENT = -130

NOT_NUMERIC = "The parameter cannot be converted to a numeric value"
OVERFLOW = (
    "Number overflow. Attempting to store a number with magnitude larger than supported range"
)
UNDERFLOW = (
    "Number underflow. Attempting to store a number with magnitude smaller than supported range"
)
TOO_PRECISE = "Attempting to store more than 38 significant digits in a Number"

# ASCII digits only: Python's \d would accept other scripts' digits.
_SYNTAX = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?)([0-9]+))?")

# Any sum or difference of two valid numbers spans at most 126 - (-130 - 37) + 1
# = 295 digits, so 320 digits of precision makes Decimal arithmetic exact; the
# Inexact trap proves it. A local context, never the thread's global one.
_EXACT = Context(
    prec=320,
    rounding=ROUND_HALF_EVEN,
    Emax=999,
    Emin=-999,
    traps=[InvalidOperation, Inexact, Overflow, Underflow],
)

Parsed = tuple[bool, str, int]
ZERO: Parsed = (False, "", 0)


def parse_number(text: object) -> Parsed:
    """Parse and range-check a wire number; raise ValidationException as DynamoDB does."""
    if not isinstance(text, str):
        raise ValidationException(NOT_NUMERIC)
    m = _SYNTAX.fullmatch(text)
    if m is None:
        raise ValidationException(NOT_NUMERIC if text == "" else f"{NOT_NUMERIC}: {text}")
    sign, whole, frac, exp_sign, exp_digits = m.groups()
    if not whole and not frac:
        raise ValidationException(NOT_NUMERIC if text == "" else f"{NOT_NUMERIC}: {text}")
    frac = frac or ""
    digits = (whole + frac).lstrip("0")
    if not digits:
        return ZERO  # zero is zero whatever its sign or exponent ("-0", "0e1000")
    trimmed = digits.rstrip("0")
    exponent = len(digits) - len(trimmed) - len(frac)
    if exp_digits:
        significant = exp_digits.lstrip("0")
        if len(significant) > 18:
            # |exponent| >= 1e18 cannot be offset by any request-sized digit string.
            raise ValidationException(UNDERFLOW if exp_sign == "-" else OVERFLOW)
        if significant:
            exponent += -int(significant) if exp_sign == "-" else int(significant)
    return _checked(sign == "-", trimmed, exponent)


def _checked(negative: bool, digits: str, exponent: int) -> Parsed:
    adjusted = exponent + len(digits) - 1
    if adjusted > MAX_EXPONENT:
        raise ValidationException(OVERFLOW)
    if adjusted < MIN_EXPONENT:
        raise ValidationException(UNDERFLOW)
    if len(digits) > MAX_DIGITS:
        raise ValidationException(TOO_PRECISE)
    return negative, digits, exponent


def format_number(parsed: Parsed) -> str:
    """The canonical string DynamoDB returns: plain decimal, no exponent, no spare zeros."""
    negative, digits, exponent = parsed
    if not digits:
        return "0"
    if exponent >= 0:
        text = digits + "0" * exponent
    else:
        point = len(digits) + exponent
        if point > 0:
            text = digits[:point] + "." + digits[point:]
        else:
            text = "0." + "0" * -point + digits
    return "-" + text if negative else text


def normalize_number(text: str) -> str:
    """Validate a wire number and return DynamoDB's canonical form of it."""
    return format_number(parse_number(text))


def to_decimal(text: str) -> Decimal:
    """The exact Decimal value of a wire number (validated as DynamoDB does)."""
    negative, digits, exponent = parse_number(text)
    if not digits:
        return Decimal(0)
    return Decimal((int(negative), tuple(map(int, digits)), exponent))


def from_decimal(value: Decimal) -> str:
    """Canonical string of an exact Decimal result; DynamoDB's range rules apply.

    Results that need more than 38 digits are rejected with the *overflow*
    message: that is what DynamoDB answers for e.g. ``1e50 + 1`` (scylladb
    test/alternator/test_number.py notes the same oddity).
    """
    if not value.is_finite():
        raise ValidationException(OVERFLOW)
    sign, digit_tuple, exponent = value.as_tuple()
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    if not digits:
        return "0"
    trimmed = digits.rstrip("0")
    exponent = int(exponent) + len(digits) - len(trimmed)
    adjusted = exponent + len(trimmed) - 1
    if adjusted < MIN_EXPONENT:
        raise ValidationException(UNDERFLOW)
    if adjusted > MAX_EXPONENT or len(trimmed) > MAX_DIGITS:
        raise ValidationException(OVERFLOW)
    return format_number((bool(sign), trimmed, exponent))


def add(a: str, b: str) -> str:
    """``a + b`` as DynamoDB computes it for ``SET x = a + b`` and ``ADD``."""
    return from_decimal(_EXACT.add(to_decimal(a), to_decimal(b)))


def sub(a: str, b: str) -> str:
    """``a - b`` as DynamoDB computes it for ``SET x = a - b``."""
    return from_decimal(_EXACT.subtract(to_decimal(a), to_decimal(b)))
