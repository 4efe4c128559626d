"""Grounding: check that every number an answer states comes from the data.

Pure logic, no I/O and no clock. :func:`extract_numbers` finds the numbers a person writes
(``1,234.5``, ``$1.2M``, ``12.5 %``, ``3.50 EUR``) while leaving out digits that are not
quantities (cell references, identifiers, dates, times, list markers, versions).
:func:`check_numbers` matches each stated number against an :class:`Evidence` set: the
numeric values of a turn's query results and the workbook profile.

A stated number matches a data value when the value, rounded to the decimals the number
was written with (after its scale: k, M, B, T), equals it. ``12%`` matches ``12`` as well as
the ratio ``0.12``. Matching sorts the evidence once and bisects, so each number costs
O(log n).
"""

from __future__ import annotations

import math
import numbers
import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = [
    "Evidence",
    "Grounding",
    "Match",
    "Source",
    "StatedNumber",
    "check_numbers",
    "extract_numbers",
]


@dataclass(frozen=True)
class StatedNumber:
    """A number as written in text.

    ``value`` is the full signed quantity with the scale applied (``"$2.5M"`` -> 2500000.0);
    for percentages it is the number written before the sign (``"12.5%"`` -> 12.5).
    ``decimals`` counts the digits written after the decimal point; ``start``/``end`` index
    ``text`` in the source string.
    """

    text: str
    value: float
    start: int
    end: int
    decimals: int
    percent: bool
    scale: float
    likely_year: bool = False


@dataclass(frozen=True)
class Source:
    """Where a data value came from, e.g. ``Source("query", "SELECT ...")``."""

    kind: str
    label: str
    cell: str | None = None  # where in the workbook the value lives ("sales!D14"), when known


@dataclass(frozen=True)
class Match:
    """A stated number and the data value (and its source) that supports it."""

    number: StatedNumber
    value: float
    source: Source


@dataclass
class Grounding:
    """The outcome of a check: numbers supported by data and numbers that are not."""

    found: list[Match] = field(default_factory=list)
    not_found: list[StatedNumber] = field(default_factory=list)

    def to_json(self) -> dict[str, list[dict[str, object]]]:
        return {
            "found": [
                {
                    "text": m.number.text,
                    "value": m.value,
                    "source": _source_json(m.source),
                }
                for m in self.found
            ],
            "not_found": [{"text": n.text, "value": n.value} for n in self.not_found],
        }


def _source_json(source: Source) -> dict[str, object]:
    out: dict[str, object] = {"kind": source.kind, "label": source.label}
    if source.cell is not None:
        out["cell"] = source.cell
    return out


# --------------------------------------------------------------------------- extraction

_CURRENCY_SYMBOL = r"[$€£¥₹]"
_CURRENCY_CODE = r"(?:USD|EUR|GBP|JPY|CHF|CAD|AUD|CNY|INR|SEK|NOK|DKK)"

_NUMBER = re.compile(
    rf"""
    (?<![\w.])(?<!\d[,/:])                       # not inside a word, version, list, time
    (?:
        (?P<sign>[-−])(?P<cur_a>{_CURRENCY_SYMBOL})?
      | (?P<cur_b>{_CURRENCY_SYMBOL}|{_CURRENCY_CODE}[ \u00a0]?)(?P<sign_b>[-−])?
    )?
    (?P<num>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?)
    (?:
        (?P<pct>[ \u00a0]?(?:%|percent\b|per[ ]cent\b|pct\b))
      | [ \u00a0]?(?P<word>thousand|million|billion|trillion)\b
      | (?P<abbr>[kK]|MM|M|mn|[bB]n|B|tn|T)(?!\w)
    )?
    (?P<cur_suffix>[ \u00a0]?(?:{_CURRENCY_SYMBOL}|{_CURRENCY_CODE}\b))?
    (?!\w|[.,/:]\d)                              # not followed by more of a token
    """,
    re.VERBOSE,
)

_SCALES: dict[str, int] = {
    "k": 10**3,
    "K": 10**3,
    "thousand": 10**3,
    "M": 10**6,
    "MM": 10**6,
    "mn": 10**6,
    "million": 10**6,
    "B": 10**9,
    "bn": 10**9,
    "Bn": 10**9,
    "billion": 10**9,
    "T": 10**12,
    "tn": 10**12,
    "trillion": 10**12,
}

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)

# Spans blanked out before numbers are looked for: their digits are not quantities.
_EXCLUDED = [
    # ISO dates, date-times and year-months: 2024-03-01, 2024-03-01T10:30, 2024-03
    re.compile(r"(?<![\w.])\d{4}-\d{1,2}(?:-\d{1,2})?(?:T[\d:.]+Z?)?(?![\w-])"),
    # day-month-year with dashes: 01-03-2024
    re.compile(r"(?<![\w.])\d{1,2}-\d{1,2}-\d{2,4}(?![\w-])"),
    # month names: March 3, March 3rd, 2024, 3 March 2024
    re.compile(rf"\b{_MONTH}\.?[ \u00a0]+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?[ \u00a0]*\d{{4}}\b)?"),
    re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)?[ \u00a0]+(?:of[ ]+)?{_MONTH}\b"),
    # list markers at line start: "1. ", "2) ", "- 3. "
    re.compile(r"^[ \t]*(?:[-*+][ \t]+)?\d{1,3}[.)](?=[ \t]|$)", re.MULTILINE),
]


def _mask(text: str) -> str:
    """Blank excluded spans with a word character, keeping every index in place."""
    for pattern in _EXCLUDED:
        text = pattern.sub(lambda m: "_" * len(m.group(0)), text)
    return text


def extract_numbers(text: str) -> list[StatedNumber]:
    """Every number stated in ``text``, in order of appearance."""
    masked = _mask(text)
    found: list[StatedNumber] = []
    for m in _NUMBER.finditer(masked):
        digits = m.group("num")
        negative = bool(m.group("sign") or m.group("sign_b"))
        scale_name = m.group("word") or m.group("abbr")
        scale = _SCALES[scale_name] if scale_name else 1
        percent = m.group("pct") is not None
        _, _, fraction = digits.partition(".")
        magnitude = Decimal(digits.replace(",", "")) * scale
        value = float(-magnitude if negative else magnitude)
        currency = m.group("cur_a") or m.group("cur_b") or m.group("cur_suffix")
        likely_year = (
            len(digits) == 4
            and digits.isdigit()
            and not (negative or percent or scale_name or currency)
            and 1900 <= int(digits) <= 2100
        )
        found.append(
            StatedNumber(
                text=text[m.start() : m.end()],
                value=value,
                start=m.start(),
                end=m.end(),
                decimals=len(fraction),
                percent=percent,
                scale=float(scale),
                likely_year=likely_year,
            )
        )
    return found


# --------------------------------------------------------------------------- evidence


def _as_number(cell: object) -> float | None:
    if isinstance(cell, bool):
        return None
    if isinstance(cell, numbers.Real | Decimal):
        number = float(cell)
        return number if math.isfinite(number) else None
    return None


@dataclass
class Evidence:
    """The data values a turn's numbers may be checked against, with their sources."""

    values: list[tuple[float, Source]] = field(default_factory=list)
    _sorted: list[float] | None = field(default=None, init=False, repr=False, compare=False)
    _sources: list[Source] = field(default_factory=list, init=False, repr=False, compare=False)

    @classmethod
    def from_rows(
        cls, columns: Sequence[str], rows: Iterable[Sequence[object]], source: Source
    ) -> Evidence:
        """Collect the numeric cells (booleans, NaN and infinities excluded) of a result, and
        the numbers written inside its text cells.

        Cells past the last named column are ignored. A result with an ``address`` column
        (a query of the cell view) says where each row's numbers live: ``sheet!address``.
        """
        evidence = cls()
        width = len(columns)
        lowered = [c.lower() for c in columns]
        address = lowered.index("address") if "address" in lowered else None
        sheet = lowered.index("sheet") if "sheet" in lowered else None
        for row in rows:
            cells = list(row)[:width]
            where = source
            place = cells[address] if address is not None else None
            if isinstance(place, str):
                named = cells[sheet] if sheet is not None else None
                if isinstance(named, str):  # quoted as Excel quotes it: 'Q1 sales'!D14
                    shown = named if named.isidentifier() else "'" + named.replace("'", "''") + "'"
                    place = f"{shown}!{place}"
                where = Source(source.kind, source.label, place)
            for cell in cells:
                number = _as_number(cell)
                if number is not None:
                    evidence.values.append((number, where))
                elif isinstance(cell, str) and any(c.isdigit() for c in cell):
                    # a label quoted from the data ("Person 22", "Q3 2021") states its digits
                    for stated in extract_numbers(cell):
                        evidence.values.append((stated.value, where))
        return evidence

    def add(self, value: float, source: Source) -> None:
        number = _as_number(value)
        if number is not None:
            self.values.append((number, source))
            self._sorted = None

    def extend(self, other: Evidence) -> None:
        self.values.extend(other.values)
        self._sorted = None

    def _index(self) -> list[float]:
        if self._sorted is None or len(self._sorted) != len(self.values):
            ordered = sorted(self.values, key=lambda pair: pair[0])  # stable: first added wins
            self._sorted = [v for v, _ in ordered]
            self._sources = [s for _, s in ordered]
        return self._sorted

    def nearest_within(self, center: float, half_width: float) -> tuple[float, Source] | None:
        """The value closest to ``center`` inside ``center ± half_width``, if any."""
        values = self._index()
        i = bisect_left(values, center)
        best: int | None = None
        for j in (i - 1, i):
            if not (0 <= j < len(values)) or abs(values[j] - center) > half_width:
                continue
            if best is None or abs(values[j] - center) < abs(values[best] - center):
                best = j
        if best is None:
            return None
        first = bisect_left(values, values[best])  # earliest source among equal values
        return values[first], self._sources[first]

    def support(self, number: StatedNumber) -> tuple[float, Source] | None:
        """A data value that, rounded as ``number`` was written, equals it."""
        half = 0.5 * 10.0**-number.decimals * number.scale
        candidates = [(number.value, half)]
        if number.percent:
            candidates.append((number.value / 100.0, half / 100.0))
        for center, width in candidates:
            # Slack for binary floats: written and stored values each carry rounding error.
            slack = width * 1e-9 + 4 * math.ulp(center)
            hit = self.nearest_within(center, width + slack)
            if hit is not None:
                return hit
        return None


# --------------------------------------------------------------------------- checking


def _stated_in(values: list[float], number: StatedNumber) -> bool:
    i = bisect_left(values, number.value)
    return any(
        0 <= j < len(values) and math.isclose(values[j], number.value, rel_tol=1e-12)
        for j in (i - 1, i)
    )


def check_numbers(text: str, evidence: Evidence, question: str = "") -> Grounding:
    """Sort the numbers stated in ``text`` into those the evidence supports and the rest.

    Numbers that also appear in ``question`` are the user's and are skipped, as are
    likely years that no data value supports.
    """
    asked = sorted(n.value for n in extract_numbers(question))
    grounding = Grounding()
    for number in extract_numbers(text):
        if _stated_in(asked, number):
            continue
        hit = evidence.support(number)
        if hit is not None:
            grounding.found.append(Match(number, hit[0], hit[1]))
        elif not number.likely_year:
            grounding.not_found.append(number)
    return grounding
