"""Rows of every table: the reference TSVs as shipped, and ``flight`` and ``booking`` generated.

Generation is deterministic (one ``random.Random(seed)``, sorted inputs), so
every database gets the same rows. Flights come from ``flightschedule``: one
for every day a schedule row flies within the scale's date range. Bookings
fill a small share of each airplane's capacity with distinct seats.

The public dump has no schedule between JFK and LAX, which the workshop's
worked examples use; four schedule rows are added for that route (documented
in generator/dataset/flughafendb/README.md), so the examples find flights at every scale.
Passenger 12345 gets bookings on a dozen flights, and every flight has at
least one booking (so flight 1001 has some).
"""

from __future__ import annotations

import datetime
import gzip
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from generator.schema import Catalog, TableDef

# Package data: present in an installed wheel as in this repository.
DATA_DIR = Path(str(resources.files("generator.dataset") / "flughafendb"))
SEED = 20241215
SEAT_LETTERS = "ABCDEF"
PASSENGER_WITH_HISTORY = 12345
JFK, LAX = 6076, 7083


@dataclass(frozen=True, slots=True)
class Scale:
    name: str
    first_day: datetime.date
    last_day: datetime.date
    schedule_every: int  # keep every n-th schedule row (by flight number)
    max_load: float  # bookings per flight: up to this share of capacity


SCALES = {
    "tiny": Scale("tiny", datetime.date(2024, 12, 10), datetime.date(2024, 12, 24), 40, 0.05),
    "small": Scale("small", datetime.date(2024, 11, 1), datetime.date(2024, 12, 31), 1, 0.099),
}

# (flightno, from, to, departure, arrival, airline_id): added JFK <-> LAX schedules, daily.
EXTRA_SCHEDULES = (
    ("AF9001", JFK, LAX, "08:00:00", "11:25:00", 1),
    ("AF9003", JFK, LAX, "17:30:00", "20:55:00", 1),
    ("AF9002", LAX, JFK, "09:15:00", "17:40:00", 1),
    ("AF9004", LAX, JFK, "22:10:00", "06:35:00", 1),
)


def _typed(value: str, type_name: str) -> Any:
    if value == "\\N":
        return None
    if type_name in ("int",):
        return int(value)
    if type_name == "bool":
        return value not in ("0", "")
    if type_name == "decimal":
        return Decimal(value)
    if type_name == "date":
        return datetime.date.fromisoformat(value)
    if type_name == "time":
        return datetime.time.fromisoformat(value)
    if type_name == "datetime":
        return datetime.datetime.fromisoformat(value)
    if type_name == "float":
        return float(value)
    return value


def reference_rows(table: TableDef) -> Iterator[tuple[Any, ...]]:
    """The shipped TSV of ``table`` as typed tuples, in the table's column order."""
    path = DATA_DIR / f"{table.name}.tsv.gz"
    with gzip.open(path, "rt", encoding="utf-8", newline="\n") as f:
        header = f.readline().rstrip("\n").split("\t")
        index = [header.index(c.name) for c in table.columns]
        types = [c.type for c in table.columns]
        for line in f:
            values = line.rstrip("\n").split("\t")
            yield tuple(_typed(values[i], t) for i, t in zip(index, types, strict=False))
    if table.name == "flightschedule":
        for flightno, src, dst, dep, arr, airline in EXTRA_SCHEDULES:
            yield (flightno, src, dst, datetime.time.fromisoformat(dep), datetime.time.fromisoformat(arr), airline, *([True] * 7))


def _schedules(catalog: Catalog, scale: Scale) -> list[tuple[Any, ...]]:
    table = catalog.table("flightschedule")
    assert table is not None
    rows = sorted(reference_rows(table), key=lambda r: r[0])
    extra = {e[0] for e in EXTRA_SCHEDULES}
    return [r for i, r in enumerate(rows) if r[0] in extra or i % scale.schedule_every == 0]


def _airplanes(catalog: Catalog) -> tuple[dict[int, list[int]], dict[int, int], list[int]]:
    table = catalog.table("airplane")
    assert table is not None
    by_airline: dict[int, list[int]] = {}
    capacity: dict[int, int] = {}
    for airplane_id, cap, _type_id, airline_id in reference_rows(table):
        by_airline.setdefault(airline_id, []).append(airplane_id)
        capacity[airplane_id] = cap
    return {k: sorted(v) for k, v in by_airline.items()}, capacity, sorted(capacity)


def flights(catalog: Catalog, scale_name: str, seed: int = SEED) -> Iterator[tuple[Any, ...]]:
    """(flight_id, flightno, from, to, departure, arrival, airline_id, airplane_id), in id order."""
    scale = SCALES[scale_name]
    rng = random.Random(seed)
    by_airline, _capacity, all_planes = _airplanes(catalog)
    schedules = _schedules(catalog, scale)
    weekday_columns = range(6, 13)  # monday .. sunday
    flight_id = 0
    day = scale.first_day
    while day <= scale.last_day:
        weekday = day.weekday()
        todays = sorted((r for r in schedules if r[weekday_columns[weekday]]), key=lambda r: (r[3], r[0]))
        for flightno, src, dst, dep, arr, airline_id, *_days in todays:
            flight_id += 1
            departure = datetime.datetime.combine(day, dep)
            arrival = datetime.datetime.combine(day + datetime.timedelta(days=1 if arr < dep else 0), arr)
            planes = by_airline.get(airline_id) or all_planes
            yield (flight_id, flightno, src, dst, departure, arrival, airline_id, rng.choice(planes))
        day += datetime.timedelta(days=1)


def seat_label(index: int) -> str:
    """0 -> '1A', 5 -> '1F', 6 -> '2A': six seats a row."""
    return f"{index // len(SEAT_LETTERS) + 1}{SEAT_LETTERS[index % len(SEAT_LETTERS)]}"


def bookings(catalog: Catalog, scale_name: str, seed: int = SEED) -> Iterator[tuple[Any, ...]]:
    """(booking_id, flight_id, seat, passenger_id, price), in id order."""
    scale = SCALES[scale_name]
    rng = random.Random(seed + 1)
    _by_airline, capacity, _ = _airplanes(catalog)
    passenger_table = catalog.table("passenger")
    assert passenger_table is not None
    passengers = sorted(r[0] for r in reference_rows(passenger_table))
    booking_id = 0
    with_history = 0
    for flight_id, *_rest, airplane_id in flights(catalog, scale_name, seed):
        cap = capacity[airplane_id]
        count = max(1, int(cap * scale.max_load * rng.random()))
        seats = rng.sample(range(cap), count)
        for n, seat in enumerate(seats):
            booking_id += 1
            if n == 0 and flight_id % 50 == 1 and with_history < 12:
                passenger = PASSENGER_WITH_HISTORY
                with_history += 1
            else:
                passenger = passengers[rng.randrange(len(passengers))]
            price = Decimal(rng.randrange(4_900, 189_900)).scaleb(-2)
            yield (booking_id, flight_id, seat_label(seat), passenger, price)


def expected_counts(catalog: Catalog, scale_name: str) -> dict[str, int]:
    """Rows per table for a scale (generated tables counted by generating them)."""
    counts = {t.name: sum(1 for _ in reference_rows(t)) for t in catalog.tables if (DATA_DIR / f"{t.name}.tsv.gz").exists()}
    counts["flight"] = sum(1 for _ in flights(catalog, scale_name))
    counts["booking"] = sum(1 for _ in bookings(catalog, scale_name))
    return counts
