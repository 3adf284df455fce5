"""Hypothesis strategies for DynamoDB values, and independent reference helpers."""

from __future__ import annotations

import base64
from decimal import Context, Decimal

from hypothesis import strategies as st

_NONZERO = "123456789"
_DIGITS = "0123456789"
_BIG = Context(prec=400, Emax=9999, Emin=-9999)

# Extremes get drawn often: the edges of the exponent range and full precision.
_adjusted = st.one_of(
    st.integers(-130, 125),
    st.sampled_from([-130, -129, -128, -1, 0, 1, 37, 38, 123, 124, 125]),
)
_length = st.one_of(st.integers(1, 38), st.sampled_from([1, 2, 37, 38]))


@st.composite
def parsed_numbers(draw: st.DrawFn, allow_zero: bool = True) -> tuple[bool, str, int]:
    """A valid number as (negative, digits without spare zeros, exponent)."""
    if allow_zero and draw(st.integers(0, 30)) == 0:
        return (False, "", 0)
    n = draw(_length)
    if n == 1:
        digits = draw(st.sampled_from(_NONZERO))
    else:
        digits = (
            draw(st.sampled_from(_NONZERO))
            + draw(st.text(_DIGITS, min_size=n - 2, max_size=n - 2))
            + draw(st.sampled_from(_NONZERO))
        )
    adjusted = draw(_adjusted)
    return (draw(st.booleans()), digits, adjusted - n + 1)


def as_decimal(parsed: tuple[bool, str, int]) -> Decimal:
    negative, digits, exponent = parsed
    if not digits:
        return Decimal(0)
    return Decimal((int(negative), tuple(int(c) for c in digits), exponent))


def reference_canonical(value: Decimal) -> str:
    """DynamoDB's canonical text, computed with Decimal alone."""
    if value == 0:
        return "0"
    return format(_BIG.normalize(value), "f")


@st.composite
def spellings(draw: st.DrawFn, parsed: tuple[bool, str, int]) -> str:
    """Some wire spelling of the number: signs, spare zeros, exponent notation."""
    negative, digits, exponent = parsed
    if not digits:
        digits, exponent = "0", 0
    shown_exp = draw(st.integers(exponent - 12, exponent + 12))
    shift = exponent - shown_exp  # mantissa = digits * 10**shift
    if shift >= 0:
        whole, frac = digits + "0" * shift, ""
    else:
        padded = digits.rjust(-shift + 1, "0")
        whole, frac = padded[:shift], padded[shift:]
    whole = "0" * draw(st.integers(0, 3)) + whole
    frac = frac + "0" * draw(st.integers(0, 3))
    if frac or draw(st.booleans()):
        mantissa = whole + "." + frac
        if whole.strip("0") == "" and draw(st.booleans()):
            mantissa = "." + frac if frac else mantissa  # ".5" is valid too
    else:
        mantissa = whole
    sign = "-" if negative else draw(st.sampled_from(["", "+"]))
    if shown_exp == 0 and draw(st.booleans()):
        return sign + mantissa
    marker = draw(st.sampled_from(["e", "E"]))
    exp_text = str(shown_exp)
    if shown_exp >= 0 and draw(st.booleans()):
        exp_text = "+" + exp_text
    return sign + mantissa + marker + exp_text


number_texts = parsed_numbers().flatmap(spellings)

# Strings with NULs, 0xFF-adjacent code points, astral characters.
key_strings = st.text(
    alphabet=st.one_of(
        st.sampled_from(["\x00", "\x01", "\x7f", "\xff", "\u0100", "\uffff", "\U0001f600", "a"]),
        st.characters(exclude_categories=("Cs",)),
    ),
    min_size=0,
    max_size=12,
)
key_binaries = st.binary(max_size=12) | st.lists(
    st.sampled_from([b"\x00", b"\xff", b"\x00\xff", b"\x01", b"\xfe"]), max_size=6
).map(b"".join)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
