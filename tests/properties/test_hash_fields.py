"""store: hash field text: every value reads back exactly through the column's decoder, in its shortest form."""

from __future__ import annotations

import math
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from flughafen.convert import converter
from flughafen.stores.hash import encode_field, scaled_decimal_field


@settings(derandomize=True, max_examples=500)
@given(value=st.floats(allow_nan=False))
def test_a_float_reads_back_exactly_and_a_whole_one_is_integer_text(value: float) -> None:
    text = encode_field(value)
    back = float(text.encode())
    assert back == value and math.copysign(1.0, back) == math.copysign(1.0, value)
    if value.is_integer() and abs(value) < 1e15 and text != "-0.0":
        assert text == str(int(value))  # listpack stores it as an integer


@settings(derandomize=True, max_examples=500)
@given(scale=st.integers(0, 10), digits=st.integers(-(10**15), 10**15))
def test_a_scaled_decimal_drops_trailing_zeros_and_its_converter_restores_them(scale: int, digits: int) -> None:
    value = Decimal(digits).scaleb(-scale)
    text = scaled_decimal_field(value)
    assert not ("." in text and text.endswith("0"))
    back = converter("decimal", scale)(text)
    assert back == value and str(back) == str(value.quantize(Decimal(1).scaleb(-scale)))
