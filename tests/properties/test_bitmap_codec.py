"""The seat <-> bit mapping and the bitmap codec of store: bitmap (flughafen/stores/bitmap.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from flughafen.stores.bitmap import MAX_OFFSET, decode_bitmap, encode_bitmap, seat_label, seat_offset

ALPHABETS = st.sampled_from(["ABCDEF", "ABCDEFGHIJK", "ABCDEFGHJK", "A"])


@settings(derandomize=True, max_examples=300)
@given(n=st.integers(0, MAX_OFFSET), letters=ALPHABETS)
def test_every_offset_is_one_seat_and_back(n: int, letters: str) -> None:
    label = seat_label(n, letters)
    if seat_offset(label, letters) is not None:
        assert seat_offset(label, letters) == n


@settings(derandomize=True, max_examples=300)
@given(text=st.text(max_size=6), letters=ALPHABETS)
def test_a_label_maps_to_at_most_one_offset_and_reads_back_the_same(text: str, letters: str) -> None:
    offset = seat_offset(text, letters)
    if offset is not None:
        assert seat_label(offset, letters) == text  # injective: no "012A" beside "12A"


def test_the_seed_mapping() -> None:
    assert [seat_offset(s, "ABCDEFGHIJK") for s in ["1A", "1K", "2A", "12A", "99K"]] == [0, 10, 11, 121, 1088]
    assert [seat_offset(s, "ABCDEFGHIJK") for s in ["0A", "01A", "1L", "1a", "A1", "１A", "1"]] == [None] * 7  # noqa: RUF001 - a fullwidth digit on purpose: not a seat row


@settings(derandomize=True, max_examples=300)
@given(offsets=st.sets(st.integers(0, 4096), max_size=50))
def test_the_bitmap_codec_round_trips_and_is_minimal(offsets: set[int]) -> None:
    data = encode_bitmap(offsets)
    assert decode_bitmap(data) == sorted(offsets)
    assert len(data) == (max(offsets) // 8 + 1 if offsets else 0)
