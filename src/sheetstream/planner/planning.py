"""Map a question onto the workbook: which table, measure, grouping and filters it names.

`plan_question` returns a `Plan` when every word of the question is accounted for (a column,
a value of a column, an operation, or a word that names nothing), a `Decline` when the
question asks about the data but names something the workbook does not have (or asks why,
or what will be), and None when it does not look like a question about the data at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sheetstream.planner.plan import Decline, Filter, Join, Plan
from sheetstream.planner.schema import Column, Table
from sheetstream.planner.words import (
    AGGREGATE_WORDS,
    COMPARE_WORDS,
    DISTINCT_WORDS,
    GRAIN_WORDS,
    MONTHS,
    NUMBER_WORDS,
    SHARE_WORDS,
    STOPWORDS,
    UNANSWERABLE,
    word_set,
    words,
)

# verbs and fillers that say how a figure came about, not which one
_FILLER = word_set(
    """
    sold sell selling sale made make making earn earned earning earns spent spend spending
    placed place logged log bought buy paid pay hired hire work works working worked come
    comes came happen happened recorded record generated generate received receive got
    brought bring taken take took produced produce ordered order stocked stock held hold
    like look break broken breakdown split grouped group per cent answer answered say said
    respondent's ever currently current now today far anything everything something
    """
)
_GROUP_CUES = frozenset({"by", "per", "each", "every", "across"})
_PICK_CUES = frozenset({"which", "what", "who", "whose"})
_YEAR = re.compile(r"(19|20)\d\d")


@dataclass(slots=True)
class _Found:
    """A column or a value named by the words at `start:end` of the question."""

    start: int
    end: int
    column: Column
    table: Table
    value: str | None = None  # None: the column itself is named


def plan_question(question: str, tables: Sequence[Table]) -> Plan | Decline | None:
    ws = words(question)
    if not ws or not tables:
        return None
    found = _find(ws, tables)
    names_table = any(w in t.words for t in tables for w in ws)
    asks_data = (
        bool(found) or names_table or any(w in AGGREGATE_WORDS for w in ws) or _how_many(ws) >= 0
    )
    if not asks_data:
        return None
    if UNANSWERABLE.intersection(ws):
        return Decline(
            understood="a question about causes or what is still to come",
            missing="the data records what happened, not why or what will",
            suggestions=_suggestions(tables[0]),
        )
    table = _best_table(found, tables, ws)
    return _plan(ws, table, [f for f in found], tables)


def _how_many(ws: list[str]) -> int:
    """Where "how many" / "number of" / "count of" ends, or -1."""
    for i in range(len(ws) - 1):
        if (ws[i], ws[i + 1]) in {("how", "many"), ("number", "of"), ("count", "of")}:
            return i + 2
    return -1


def _find(ws: list[str], tables: Sequence[Table]) -> list[_Found]:
    """Every value and column the question names; longer names first, no word used twice."""
    candidates: list[_Found] = []
    for table in tables:
        for column in table.columns:
            for value in column.values:
                vw = words(value)
                for start in _spans(ws, vw):
                    candidates.append(_Found(start, start + len(vw), column, table, value))
            for start in _spans(ws, list(column.words)):
                candidates.append(_Found(start, start + len(column.words), column, table))
            if len(column.words) > 1:  # "Hire Date" named as "date", "Unit Price" as "price"
                head = column.words[-1]
                if head not in STOPWORDS and head not in {"id", "no"}:
                    for start in _spans(ws, [head]):
                        candidates.append(_Found(start, start + 1, column, table))
    # longer spans first; at equal length a whole name before a head word, a value last
    candidates.sort(
        key=lambda f: (
            -(f.end - f.start),
            f.value is not None,
            len(f.column.words) != f.end - f.start,
        )
    )
    used: set[int] = set()
    kept: list[_Found] = []
    for cand in candidates:
        span = set(range(cand.start, cand.end))
        if span & used:
            # the same words may name the same thing in several tables (a join's key)
            if any(
                k.start == cand.start
                and k.end == cand.end
                and k.column.name == cand.column.name
                and k.value == cand.value
                for k in kept
            ):
                kept.append(cand)
            continue
        used |= span
        kept.append(cand)
    return sorted(kept, key=lambda f: f.start)


def _followed_by_number(ws: list[str], end: int) -> bool:
    """ "floor 2": a numeric column named with a value, a filter rather than a figure."""
    return end < len(ws) and ws[end].isdigit()


def _spans(ws: list[str], name: list[str]) -> list[int]:
    if not name or all(w in STOPWORDS for w in name):
        return []
    n = len(name)
    return [i for i in range(len(ws) - n + 1) if ws[i : i + n] == name]


def _best_table(found: list[_Found], tables: Sequence[Table], ws: list[str]) -> Table:
    """The table holding the figure asked about; then the one naming most of the question."""

    def score(table: Table) -> tuple[int, int, int]:
        own = sum(f.end - f.start for f in found if f.table is table)
        named = sum(1 for w in table.words if w in ws)
        figures = sum(
            1
            for f in found
            if f.table is table
            and f.column.numeric
            and f.value is None
            and not _followed_by_number(ws, f.end)
        )
        return figures, own + named, -tables.index(table)

    return max(tables, key=score)


def _plan(
    ws: list[str], table: Table, found: list[_Found], tables: Sequence[Table]
) -> Plan | Decline:
    consumed: set[int] = set()
    filters: list[Filter] = []
    join: Join | None = None

    def own_or_joined(f: _Found) -> tuple[bool, Join | None]:
        """Whether `f` can be used from `table`, possibly through a join."""
        if f.table is table:
            return True, join
        if any(c.name == f.column.name for c in table.columns):
            return True, join  # the same column in the plan's table: use that one
        key = _shared_key(table, f.table)
        if key is None or (join is not None and join.other is not f.table):
            return False, join
        return True, Join(f.table, key[0], key[1])

    # values of text columns are filters; the same words found in several tables count once
    seen_spans: set[tuple[int, int]] = set()
    columns_named: list[_Found] = []
    values_named: list[_Found] = []
    for f in found:
        if (f.start, f.end) in seen_spans:
            continue
        usable, new_join = own_or_joined(f)
        if not usable:
            continue
        seen_spans.add((f.start, f.end))
        join = new_join
        (values_named if f.value is not None else columns_named).append(f)
        consumed.update(range(f.start, f.end))

    # the plan's table named by its sheet's name ("how many employees") is understood too
    for i, w in enumerate(ws):
        if w in table.words or (join is not None and w in join.other.words):
            consumed.add(i)

    # "floor 2", "class 3": a numeric column equal to a number
    for f in list(columns_named):
        if f.column.numeric and _followed_by_number(ws, f.end) and not f.column.temporal:
            value = int(ws[f.end])
            values_named.append(_Found(f.start, f.end + 1, f.column, f.table, str(value)))
            columns_named.remove(f)
            consumed.add(f.end)

    temporal = [c for c in table.columns if c.temporal]
    years = [i for i, w in enumerate(ws) if _YEAR.fullmatch(w) and i not in consumed]
    months = [i for i, w in enumerate(ws) if w in MONTHS or w[:3] in _MONTH_ABBREVIATIONS]
    date_column = _named_date(columns_named, table) or (temporal[0] if temporal else None)

    # operations
    aggregate = ""
    agg_at = -1
    for i, w in enumerate(ws):
        if w in AGGREGATE_WORDS and not aggregate:
            aggregate, agg_at = AGGREGATE_WORDS[w], i
            consumed.add(i)
    count_at = _how_many(ws)
    if count_at >= 0:
        consumed.update({count_at - 2, count_at - 1})
        if not aggregate or ws[agg_at] in {"number", "count"}:
            aggregate = "count"
    if "count" in ws:
        consumed.add(ws.index("count"))
        aggregate = aggregate or "count"
    distinct = bool(DISTINCT_WORDS.intersection(ws))
    share = bool(SHARE_WORDS.intersection(ws)) or "%" in ws
    compare = bool(COMPARE_WORDS.intersection(ws))
    grain = ""
    for i, w in enumerate(ws):
        if w in GRAIN_WORDS and date_column is not None and not _is_value_word(i, found):
            grain = GRAIN_WORDS[w]
            consumed.add(i)
            break
    for i, w in enumerate(ws):
        if w in DISTINCT_WORDS or w in SHARE_WORDS or w in COMPARE_WORDS or w in _GROUP_CUES:
            consumed.add(i)

    limit: int | None = None
    for i, w in enumerate(ws):
        n = NUMBER_WORDS.get(w) or (int(w) if w.isdigit() and not _YEAR.fullmatch(w) else 0)
        if n and 0 < n <= 100:
            near = ws[max(0, i - 1) : i + 2]
            if any(AGGREGATE_WORDS.get(x) in {"max", "min"} for x in near):
                limit = n
                consumed.add(i)

    # dates: years and months as filters on the date column (or compared)
    year_values = [int(ws[i]) for i in years]
    if year_values and date_column is None:
        return _decline(table, "a year", "the table has no date column to take it from")
    consumed.update(years)
    month_values: list[int] = []
    for i in months:
        if date_column is not None and not _is_value_word(i, found):
            month_values.append(_month_number(ws[i]))
            consumed.add(i)

    # grouping: "by X", "per X", "each X", "which X …"
    group: Column | None = None
    group_table: Table | None = None
    pick = False
    row_pick = False
    for f in columns_named:
        before = ws[f.start - 1] if f.start > 0 else ""
        before2 = ws[f.start - 2] if f.start > 1 else ""
        groups = not f.column.numeric or f.column.identifier
        if groups and (before in _GROUP_CUES or (before2 == "for" and before == "each")):
            group, group_table = f.column, f.table
        elif not f.column.numeric and (
            before in _PICK_CUES or (before2 in _PICK_CUES and before in {"the", "a"})
        ):
            group, group_table, pick = f.column, f.table, True
    if grain and date_column is not None and group is None:
        group, group_table = date_column, table
    if group is None:
        # "which employee …", "who earns the most": the rows themselves
        for i, w in enumerate(ws):
            nxt = ws[i + 1] if i + 1 < len(ws) else ""
            if w == "who" or (
                w in _PICK_CUES and (nxt in table.words or singular_in(nxt, table.words))
            ):
                row_pick = True
                consumed.update({i, i + 1} if nxt in table.words else {i})
                break
        # "Which region …" where the region is also a value somewhere: still the column
    # measure: a numeric column named and not used to group
    measures = [
        f for f in columns_named if f.column.numeric and f.column is not group and f.table is table
    ]
    measures += [
        f
        for f in columns_named
        if f.column.numeric and f.column is not group and f.table is not table
    ]
    text_named = [f for f in columns_named if not f.column.numeric and f.column is not group]
    measure: Column | None = None
    if measures:
        measure = measures[0].column
        if len({m.column.name for m in measures}) > 1:
            # "salary by age": the one after the operation word is the measure
            after = [m for m in measures if m.start > agg_at] if agg_at >= 0 else measures
            measure = (after or measures)[0].column
            others = [m.column for m in measures if m.column is not measure]
            if group is None and others and not others[0].numeric:
                group = others[0]

    # "how many units": a figure's total, not a count of rows
    if aggregate == "count" and measure is not None and not measure.identifier:
        aggregate = "sum"
    # "top 3 products by revenue": the products are the groups
    if group is None and limit is not None and measure is not None:
        for f in text_named:
            group, group_table = f.column, f.table
            text_named = [t for t in text_named if t is not f]
            break
    # text columns named without a cue: "how many products" counts them
    counted: Column | None = None
    if aggregate == "count" and measure is None:
        for f in text_named:
            if f.start >= count_at >= 0 or f.start > agg_at >= 0:
                counted = f.column
                break
        if counted is None and distinct and text_named:
            counted = text_named[0].column
    elif distinct and text_named:
        counted = text_named[0].column
        aggregate = "count"

    # what is left unexplained?
    unexplained = [
        w
        for i, w in enumerate(ws)
        if i not in consumed
        and w not in STOPWORDS
        and w not in _FILLER
        and not w.isdigit()
        and w not in AGGREGATE_WORDS
    ]
    if unexplained:
        word = unexplained[0]
        return _decline(
            table,
            _understood(aggregate, measure, group, values_named, table),
            f'nothing in the workbook is called "{word}"',
        )

    for f in values_named:
        assert f.value is not None
        equal: str | int = int(f.value) if f.column.numeric else f.value
        filters.append(Filter(f.column, equal, table=None if f.table is table else f.table))
    compare_values: tuple[str | int, ...] = ()
    if len(year_values) >= 2 and (compare or "and" in ws or "or" in ws):
        compare_values = tuple(year_values)
        if group is None and date_column is not None:
            group, grain = date_column, "year"
    else:
        filters += [Filter(date_column, y, "year") for y in year_values if date_column]
    filters += [Filter(date_column, m, "month") for m in month_values if date_column]
    by_column: dict[str, list[Filter]] = {}
    for flt in filters:
        if not flt.part:
            by_column.setdefault(flt.column.name, []).append(flt)
    for same in by_column.values():
        if len(same) >= 2:  # "North and South", "North vs South": compared, not both at once
            filters = [f for f in filters if f not in same]
            compare_values = tuple(f.value for f in same)
            group = same[0].column
            group_table = same[0].table
            if group_table is None:
                group_table = table

    if counted is not None:
        aggregate = "count_distinct"
        measure = counted
    if not aggregate:
        if measure is None:
            if row_pick or not (group or filters):
                return _decline(
                    table,
                    _understood(aggregate, measure, group, values_named, table),
                    "which figure to compute (a total, an average, a count …)",
                )
            aggregate = "count"
        else:
            aggregate = "avg" if measure.averaged else "sum"
    if aggregate in {"sum", "avg", "min", "max"} and measure is None:
        if aggregate in {"min", "max"} and count_at >= 0:
            aggregate = "count"
        elif aggregate in {"max", "min"} and group is not None:
            # "which region has the most orders": the most rows
            aggregate, pick = "count", True
        else:
            return _decline(
                table,
                _understood(aggregate, measure, group, values_named, table),
                "which numeric column to compute it over",
            )
    if measure is not None and measure.identifier and aggregate in {"sum", "avg"}:
        return _decline(table, f"{measure.name}", f"{measure.name} is an identifier, not a figure")

    order = ""
    inner = aggregate
    if aggregate in {"max", "min"} and (group is not None or limit is not None or row_pick):
        order = "desc" if aggregate == "max" else "asc"
        if row_pick or group is None:
            row_pick = True
        else:
            inner = "avg" if measure is not None and measure.averaged else "sum"
            if agg_at >= 0 and any(ws[j] in {"average", "mean", "avg"} for j in range(len(ws))):
                inner = "avg"
            if limit is None:
                pick = True
    elif aggregate in {"max", "min"} and measure is not None:
        row_pick = True
        order = "desc" if aggregate == "max" else "asc"
    if pick and group is not None and not order:
        order = "desc"
    if pick and limit is None:
        limit = 1
    if row_pick and limit is None:
        limit = 1
    averaged = aggregate == "avg" or any(w in {"average", "mean"} for w in ws)
    if averaged and inner in {"sum", "max", "min"} and group is not None and order:
        inner = "avg"
    if share and group is None and not filters:
        return _decline(
            table,
            _understood(aggregate, measure, group, values_named, table),
            "the part to take the share of (a group, or a value such as a region)",
        )
    if join is not None and group_table is None:
        group_table = table
    return Plan(
        table=table,
        aggregate=inner,
        measure=measure,
        group=group,
        group_table=group_table if group_table is not table else None,
        grain=grain if group is not None and group.temporal else "",
        filters=tuple(filters),
        order=order,
        limit=limit,
        pick=pick,
        row_pick=row_pick and group is None,
        share=share,
        compare=compare_values,
        join=join,
    )


_MONTH_ABBREVIATIONS = frozenset(m[:3] for m in MONTHS) - {"may", "mar"}


def _month_number(word: str) -> int:
    for number, month in enumerate(MONTHS, start=1):
        if word == month or word == month[:3]:
            return number
    return 0


def singular_in(word: str, names: tuple[str, ...]) -> bool:
    return bool(word) and any(n.startswith(word) or word.startswith(n) for n in names)


def _is_value_word(index: int, found: list[_Found]) -> bool:
    return any(f.start <= index < f.end for f in found)


def _named_date(columns_named: list[_Found], table: Table) -> Column | None:
    for f in columns_named:
        if f.column.temporal and f.table is table:
            return f.column
    return None


def _shared_key(table: Table, other: Table) -> tuple[str, str] | None:
    """The column both tables have (by its words), to join them on."""
    for column in table.columns:
        if column.numeric and not column.identifier:
            continue
        for theirs in other.columns:
            if theirs.words == column.words:
                return column.name, theirs.name
    return None


def _understood(
    aggregate: str,
    measure: Column | None,
    group: Column | None,
    values: list[_Found],
    table: Table,
) -> str:
    parts = []
    if aggregate:
        names = {"sum": "a total", "avg": "an average", "count": "a count"}
        parts.append(names.get(aggregate, aggregate))
    if measure is not None:
        parts.append(f"of {measure.name}")
    if group is not None:
        parts.append(f"by {group.name}")
    parts += [f"for {f.column.name} {f.value}" for f in values]
    parts.append(f"in sheet {table.sheet}")
    return " ".join(parts)


def _decline(table: Table, understood: str, missing: str) -> Decline:
    return Decline(understood=understood, missing=missing, suggestions=_suggestions(table))


def _suggestions(table: Table) -> tuple[str, ...]:
    """Queries that do run on the table: a total of its first figures, a count by a group."""
    from sheetstream.planner.sql import quote

    out = []
    numeric = [c for c in table.columns if c.numeric and not c.identifier]
    texts = [c for c in table.columns if c.kind == "text" and 1 < c.distinct <= 50]
    name = quote(table.table)
    for column in numeric[:2]:
        out.append(f"SELECT sum({quote(column.name)}) FROM {name}")
    if texts:
        group = quote(texts[0].name)
        out.append(f"SELECT {group}, count(*) FROM {name} GROUP BY {group} ORDER BY count(*) DESC")
    if not out:
        out.append(f"SELECT * FROM {name} LIMIT 10")
    return tuple(out)
