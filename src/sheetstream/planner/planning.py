"""Map a question onto the workbook: which table, measure, grouping and filters it names.

`plan_question` returns a `Plan` when every word of the question is accounted for (a column,
a value of a column, an operation, or a word that names nothing), a `Decline` when the
question asks about the data but names something the workbook does not have (or asks why,
or what will be), and None when it does not look like a question about the data at all.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sheetstream.planner.names import (
    MONTH_WORDS,
    YEAR,
    Found,
    best_table,
    find_names,
    followed_by_number,
    how_many,
)
from sheetstream.planner.plan import Decline, Filter, Join, Plan
from sheetstream.planner.schema import Column, Table
from sheetstream.planner.sql import quote
from sheetstream.planner.words import (
    AGGREGATE_WORDS,
    COMPARE_WORDS,
    COMPARISON_PAIRS,
    COMPARISONS,
    COUNT_WORDS,
    DISTINCT_WORDS,
    FUNCTION_WORDS,
    GRAIN_WORDS,
    IMPLIED_MEASURES,
    NUMBER_WORDS,
    RANK_WORDS,
    SHARE_WORDS,
    STOPWORDS,
    UNANSWERABLE,
    as_number,
    word_set,
    words,
)

# verbs and fillers that say how a figure came about, or what a row is, not which figure
_FILLER = word_set(
    """
    sold sell selling sale made make making earn earned earning earns spent spend spending
    placed place logged log bought buy paid pay hired hire work works working worked come
    comes came happen happened recorded record generated generate received receive got
    brought bring taken take took produced produce ordered order stocked stock held hold
    like look break broken breakdown split grouped group cent answer answered say said ever
    currently current now today far anything everything something single individual
    charged charge whole entire add adds added bill listed list person people transaction
    respondent employee staff member team job request call item thing kind type exist
    existing there's budgeted budgets spent each apiece altogether total
    sum highest lowest still actually really go survey questionnaire everyone anyone
    someone everybody anybody here grand carry carried often appear appears appeared used
    use exist exists responded respond joined join started period full line ms millisecond
    kind breakdown reporting report reports
    """
)
_GROUP_CUES = frozenset({"by", "per", "each", "every", "across"})
_YES = frozenset({"yes", "y", "true"})
_YES_NO = _YES | {"no", "n", "false"}
_PICK_CUES = frozenset({"which", "what", "who", "whose"})
_ISO_DATE = re.compile(r"(?<![\w-])(19|20)\d\d-[01]\d-[0-3]\d(?![\w-])")
# words that ask how a figure moves over time: understood only with a date to group by
_TREND_WORDS = frozenset(
    {"develop", "developed", "move", "moved", "change", "changed", "evolve", "evolved", "trend"}
)
_HALVES = {1: "first half", 2: "second half"}
_COMPARATIVES = frozenset(
    {"larger", "higher", "bigger", "smaller", "lower", "greater", "more", "less", "fewer"}
)
_NEGATIONS = frozenset(
    {
        "not",
        "no",
        "never",
        "without",
        "except",
        "excluding",
        "non",
        "isn't",
        "aren't",
        "didn't",
        "don't",
        "doesn't",
        "wasn't",
        "weren't",
        "nor",
    }
)
_SMALL_TALK = frozenset(
    {"hi", "hello", "hey", "thanks", "thank", "cheer", "bye", "goodbye", "ok", "okay", "great"}
)


def plan_question(question: str, tables: Sequence[Table]) -> Plan | Decline | None:
    """The plan for `question`; a decline; None for a greeting or thanks (the model's)."""
    dates = [m.group(0) for m in _ISO_DATE.finditer(question)]
    for number, day in enumerate(dates):  # 2024-05-04 is one word, not three numbers
        question = question.replace(day, f" isodate{number} ", 1)
    ws = words(question)
    if not ws or not tables:
        return None
    if all(w in _SMALL_TALK or w in FUNCTION_WORDS for w in ws):
        return None
    found = find_names(ws, tables)
    named = {i for f in found for i in range(f.start, f.end)}
    names_table = any(w in t.words for t in tables for w in ws)
    asks_data = (
        bool(found) or names_table or any(w in AGGREGATE_WORDS for w in ws) or how_many(ws) >= 0
    )
    if not asks_data:
        return Decline(
            understood="a question that names nothing in the workbook",
            missing="I answer questions about its columns and values",
            suggestions=_suggestions(tables[0]),
        )
    if any(w in UNANSWERABLE for i, w in enumerate(ws) if i not in named):
        return Decline(
            understood="a question about causes or what is still to come",
            missing="the data records what happened, not why or what will",
            suggestions=_suggestions(tables[0]),
        )
    table = best_table(found, tables, ws)
    plan = _Planner(ws, table, found, tables, tuple(dates)).plan()
    if isinstance(plan, Plan) and plan.aggregate == "count" and _unique(plan.group, plan.table):
        # "which department has the fewest people" counted on the sheet listing each
        # department once says nothing: count where the departments repeat
        assert plan.group is not None
        for other in tables:
            if other is not plan.table and any(
                c.name == plan.group.name and not _unique(c, other) for c in other.columns
            ):
                return _Planner(ws, other, found, tables, tuple(dates)).plan()
        for other in tables:  # "headcount per manager": the employees, joined to managers
            shared = _shared_key(other, plan.table) if other is not plan.table else None
            if shared is not None and not _unique(
                next(c for c in other.columns if c.name == shared[0]), other
            ):
                joined = _Planner(ws, other, found, tables, tuple(dates)).plan()
                if isinstance(joined, Plan) and joined.join is not None:
                    return joined
        return Decline(
            understood=f"a count by {plan.group.name}",
            missing=f"each {plan.group.name} is one row of sheet {plan.table.sheet}",
            suggestions=_suggestions(plan.table),
        )
    return plan


def _unique(column: Column | None, table: Table) -> bool:
    """A column with a different value on every row: grouping by it groups nothing."""
    return column is not None and not column.temporal and column.distinct == table.rows


@dataclass(slots=True)
class _Operation:
    """What the question asks to compute, as its words say it."""

    aggregate: str
    agg_at: int
    agg_word: str
    how_much: int
    averaged: bool
    count_at: int
    ranked_all: bool
    distinct: bool
    share: bool
    compare: bool
    grain: str
    limit: int | None


@dataclass(slots=True)
class _Calendar:
    """The periods the question names, each kind apart."""

    year_values: list[int]
    months: list[int]
    days: list[str]
    quarters: list[int]
    halves: list[int]


class _Planner:
    """One question against one table (and the tables it can join)."""

    def __init__(
        self,
        ws: list[str],
        table: Table,
        found: list[Found],
        tables: Sequence[Table],
        dates: tuple[str, ...] = (),
    ) -> None:
        self._tables = tables
        self._dates = dates
        self._limit_asked = False
        self.ws = ws
        self.table = table
        self.found = found
        self.consumed: set[int] = set()
        self.join: Join | None = None
        self.columns: list[Found] = []  # columns named, usable from the table
        self.values: list[Found] = []  # values named (filters)
        self.conditions: list[Filter] = []  # comparisons: "more than 50 units"

    # -- what the words name ------------------------------------------------------------

    def _usable(self, f: Found) -> bool:
        if f.table is self.table or any(c.name == f.column.name for c in self.table.columns):
            return True
        key = _shared_key(self.table, f.table)
        if key is None or (self.join is not None and self.join.other is not f.table):
            return False
        self.join = Join(f.table, key[0], key[1])
        return True

    def _take_names(self) -> None:
        seen: set[tuple[int, int]] = set()
        for f in self.found:
            if (f.start, f.end) in seen or not self._usable(f):
                continue
            seen.add((f.start, f.end))
            if f.table is not self.table and any(
                c.name == f.column.name for c in self.table.columns
            ):
                own = next(c for c in self.table.columns if c.name == f.column.name)
                f = Found(f.start, f.end, own, self.table, f.value)
            (self.values if f.value is not None else self.columns).append(f)
            self.consumed.update(range(f.start, f.end))
        for i, w in enumerate(self.ws):
            if w in self.table.words or (self.join is not None and w in self.join.other.words):
                self.consumed.add(i)
        # "item categories": two text columns side by side, the second is the noun
        texts = [f for f in self.columns if not f.column.numeric]
        for first, second in itertools.pairwise(texts):
            ids = first.column.identifier or second.column.identifier
            if first.end == second.start and not ids:
                self.columns.remove(first)

    def _take_comparisons(self) -> None:
        """ "more than 50 units", "earn over 100,000", "hired after 2020"."""
        ws = self.ws
        for i, w in enumerate(ws):
            op = ""
            width = 1
            if i + 1 < len(ws) and (w, ws[i + 1]) in COMPARISON_PAIRS:
                op, width = COMPARISON_PAIRS[(w, ws[i + 1])], 2
            elif w in COMPARISONS:
                op = COMPARISONS[w]
            if not op or i + width >= len(ws):
                continue
            number = as_number(ws[i + width])
            if number is None:
                continue
            at = i + width
            if YEAR.fullmatch(ws[at]) and w in {"after", "before"}:
                column = self._date_column()
                if column is None:
                    continue
                self.conditions.append(
                    Filter(column, int(number), "year", op=">" if op == ">" else "<")
                )
            else:
                figure = self._nearest_figure(i, at + 1) or self._only_figure()
                if figure is None:
                    continue
                value: int | float = int(number) if number == int(number) else number
                self.conditions.append(Filter(figure.column, value, op=op, table=figure.table))
                if figure.start > i:  # "more than 50 units": the units are the condition's
                    self.columns = [c for c in self.columns if c is not figure]
            self.consumed.update(range(i, at + 1))

    def _only_figure(self) -> Found | None:
        """ "orders above 1,000": the sheet's one figure, when it has one."""
        figures = self.table.figures()
        if len(figures) != 1:
            return None
        return Found(-1, -1, figures[0], self.table)

    def _nearest_figure(self, before: int, after: int) -> Found | None:
        """The numeric column named next to a comparison: after it, else before it."""
        figures = [f for f in self.columns if f.column.numeric]
        following = [f for f in figures if f.start >= after and f.start <= after + 2]
        if following:
            return following[0]
        preceding = [f for f in figures if f.end <= before]
        return preceding[-1] if preceding else None

    def _date_column(self) -> Column | None:
        for f in self.columns:
            if f.column.temporal and f.table is self.table:
                return f.column
        return next((c for c in self.table.columns if c.temporal), None)

    # -- the plan -----------------------------------------------------------------------

    def plan(self) -> Plan | Decline:
        ws = self.ws
        self._take_names()
        # "floor 2", "class 3": a numeric column equal to a number
        for f in list(self.columns):
            if f.column.numeric and followed_by_number(ws, f.end) and not f.column.temporal:
                self.values.append(Found(f.start, f.end + 1, f.column, f.table, ws[f.end]))
                self.columns.remove(f)
                self.consumed.add(f.end)
        self._take_comparisons()
        table = self.table
        date_column = self._date_column()

        op = self._operation(date_column)
        aggregate, agg_at, agg_word, how_much = op.aggregate, op.agg_at, op.agg_word, op.how_much
        averaged, count_at, ranked_all, distinct = (
            op.averaged,
            op.count_at,
            op.ranked_all,
            op.distinct,
        )
        share, compare, grain, limit = op.share, op.compare, op.grain, op.limit

        calendar = self._calendar(date_column)
        if isinstance(calendar, Decline):
            return calendar
        year_values, month_values = calendar.year_values, calendar.months
        days, quarters, halves = calendar.days, calendar.quarters, calendar.halves

        # grouping: "by X", "per X", "each X", "which X …"
        group: Column | None = None
        group_table: Table | None = None
        pick = False
        row_pick = False
        for f in self.columns:
            before = ws[f.start - 1] if f.start > 0 else ""
            before2 = ws[f.start - 2] if f.start > 1 else ""
            cued = (
                before in _GROUP_CUES
                or (before2 == "for" and before == "each")
                or (before2 in _GROUP_CUES and (before in _FILLER or before in table.words))
            )
            few = 0 < f.column.distinct <= 12 and f.column.kind == "integer"
            picked = before in _PICK_CUES
            groupable = not f.column.numeric or f.column.identifier or ((cued or picked) and few)
            if not groupable:
                continue
            if cued:
                group, group_table = f.column, f.table
            elif (
                before in _PICK_CUES
                or (before2 in _PICK_CUES and before in {"the", "a"})
                or (before2 in _PICK_CUES and limit is not None and before.isdigit())
                or (before2 in _PICK_CUES and NUMBER_WORDS.get(before))
                or (before in {"top", "bottom"} or before2 in {"top", "bottom"})
            ):
                group, group_table, pick = f.column, f.table, True
        if grain and date_column is not None and group is None:
            group, group_table = date_column, table
        if group is None and self.join is None:
            # "which customer spent the most": the customers, joined on their id
            for i, w in enumerate(ws[:-1]):
                if w not in _PICK_CUES:
                    continue
                for other in self._tables:
                    shared = _shared_key(table, other) if other is not table else None
                    label = other.label_column()
                    if ws[i + 1] in other.words and shared is not None and label is not None:
                        self.join = Join(other, shared[0], shared[1])
                        group, group_table, pick = label, other, True
                        self.consumed.update({i, i + 1})
                        break
                if group is not None:
                    break
        if group is None:
            # "which employee …", "who earns the most": the rows themselves
            for i, w in enumerate(ws):
                nxt = ws[i + 1] if i + 1 < len(ws) else ""
                if w == "who" or (w in _PICK_CUES and (nxt in table.words or nxt in _ROW_NOUNS)):
                    row_pick = True
                    self.consumed.add(i)
                    if nxt in table.words or nxt in _ROW_NOUNS:
                        self.consumed.add(i + 1)
                    break
            if limit is not None and any(w in {"top", "bottom"} for w in ws):
                row_pick = True

        # measure: a numeric column named and not used to group
        measures = [
            f
            for f in self.columns
            if f.column.numeric and f.column is not group and not f.column.identifier
        ]
        measures.sort(key=lambda f: f.table is not table)
        text_named = [
            f
            for f in self.columns
            if (not f.column.numeric or f.column.identifier) and f.column is not group
        ]
        # a text column right beside its own value ("the api service") is the filter's
        for f in list(text_named):
            if any(
                v.column.name == f.column.name and (v.end == f.start or f.end == v.start)
                for v in self.values
            ):
                text_named.remove(f)
        for f in list(text_named):
            values = {v.lower() for v in f.column.values}
            if values and values <= _YES_NO and values & _YES:
                yes = next(v for v in f.column.values if v.lower() in _YES)
                self.values.append(Found(f.start, f.end, f.column, f.table, yes))
                text_named.remove(f)
        if len({m.column.name for m in measures}) > 1 and (
            "and" in ws or COMPARE_WORDS.intersection(ws)
        ):
            return self._decline(aggregate, None, group, "it asks for two figures at once")
        measure: Column | None = None
        if measures:
            after = [m for m in measures if m.start > agg_at] if agg_at >= 0 else measures
            measure = (after or measures)[0].column
        if agg_word in IMPLIED_MEASURES:  # "the priciest item": a price, whatever else
            implied_words = set(IMPLIED_MEASURES[agg_word])
            measure = next(
                (c for c in table.columns if c.numeric and implied_words & set(c.words)), measure
            )
        if measure is None:
            for i, w in enumerate(ws):
                implied = IMPLIED_MEASURES.get(w)
                if implied:
                    measure = next(
                        (c for c in table.columns if c.numeric and set(implied) & set(c.words)),
                        None,
                    )
                    if measure is not None:
                        self.consumed.add(i)  # "how long": the duration
                        break
        self._limit_asked = limit is not None
        if measure is None and table.row_total is not None and aggregate != "count":
            measure = self._row_measure(aggregate, averaged)
            if measure is None:
                return self._decline(
                    aggregate, None, group, "the months are columns here: ask for one month"
                )
            if aggregate in {"max", "min"} and measure.parts_op in {"max", "min"}:
                aggregate = "max" if measure.parts_op == "max" else "min"
                averaged = False
            if measure.parts_op == "avg":  # the average month of the rows asked about:
                aggregate, averaged = "sum", False  # their monthly averages, added
        if measure is None and aggregate in {"max", "min"} and group is None:
            ranked_noun = ws[agg_at + 1] if 0 <= agg_at < len(ws) - 1 else ""
            figures = table.figures(additive=True)
            sized = agg_word in {"largest", "biggest", "smallest", "highest", "lowest"}
            sized = sized and count_at < 0  # "biggest by headcount" counts rows
            if sized and ranked_noun in table.words and len(figures) == 1:  # "largest order"
                measure = figures[0]
        if measure is None and aggregate in {"sum", "max", "min"} and how_much < 0:
            figures = table.figures(additive=True)
            totals = any(w in {"total", "sum"} for w in ws)
            if totals and len(figures) == 1:  # "the largest order totals": its one figure
                measure = figures[0]
        if measure is None and how_much >= 0:
            figures = table.figures(additive=True)
            if len(figures) == 1:  # "how much did shipped orders bring in": the one figure
                measure = figures[0]
                aggregate = aggregate or "sum"
            else:
                return self._decline(aggregate, None, group, "which figure to add up")

        # "how many scores below 50": the rows the condition keeps, counted
        conditioned = {c.column.name for c in self.conditions}
        if aggregate == "count" and measure is not None and measure.name in conditioned:
            measure = None
        # "how many different reorder levels": the figure's distinct values, counted
        counted_figure: Column | None = None
        if aggregate == "count" and measure is not None and distinct:
            counted_figure = next(
                (m.column for m in measures if ws[m.start - 1] in DISTINCT_WORDS), None
            )
        # "how many units": a figure's total, not a count of rows (a months-as-columns
        # total is no figure to count by)
        if aggregate == "count" and measure is not None and counted_figure is None:
            if measure.parts:
                measure = None
            elif count_at >= 0 and any(count_at <= m.start <= count_at + 1 for m in measures):
                aggregate = "sum"
            elif count_at >= 0 and not any(m.start >= count_at for m in measures):
                measure = None
        averaging = aggregate in {"avg", "median"} or (measure is not None and measure.averaged)
        if group is not None and _unique(group, table) and not pick and limit is None and averaging:
            # "average quantity per item", when each item is one row: the average over the
            # items, or each item's own? Asked, not guessed.
            return self._decline(
                aggregate, measure, group, f"each {group.name} is one row of sheet {table.sheet}"
            )
        if ranked_all and group is None and measure is not None and text_named:
            first = text_named[0]  # "rank products by units"
            group, group_table = first.column, first.table
            text_named = [t for t in text_named if t is not first]
        totalled = any(w in {"total", "sum", "combined"} for w in ws)
        if group is None and totalled and aggregate in {"max", "min"} and text_named:
            first = text_named[0]  # "the product with the lowest total revenue"
            group, group_table, pick, row_pick = first.column, first.table, True, False
            text_named = [t for t in text_named if t is not first]
        # "top 3 products by revenue": the products are the groups
        if group is None and limit is not None and measure is not None:
            for f in text_named:
                group, group_table, row_pick = f.column, f.table, False
                text_named = [t for t in text_named if t is not f]
                break
        counted: Column | None = None
        if aggregate == "count" and measure is None:
            for f in text_named:
                if count_at >= 0 and f.start in {count_at, count_at + 1}:
                    counted = f.column
                    break
            if counted is None and distinct and text_named:
                counted = text_named[0].column
        elif distinct and text_named:
            counted = text_named[0].column
            aggregate = "count"

        named_values = Counter(f.column.name for f in self.values)
        periods = len(year_values) >= 2 or len(quarters) >= 2 or len(halves) >= 2
        if periods or any(n >= 2 for n in named_values.values()):
            for i, w in enumerate(ws):  # "which has the larger payroll": both are shown
                if w in _COMPARATIVES:
                    self.consumed.add(i)
        negated = [i for i, w in enumerate(ws) if w in _NEGATIONS and i not in self.consumed]
        if negated:
            flipped = self._negate_yes_no(negated)
            if not flipped:
                return self._decline(
                    aggregate, measure, group, 'a question with a "not" or an "except"'
                )
        unexplained = [
            w
            for i, w in enumerate(ws)
            if i not in self.consumed
            and not w.startswith("isodate")
            and w not in STOPWORDS
            and w not in _FILLER
            and not _is_inflection_of(w, table)
        ]
        if unexplained:
            word = unexplained[0]
            missing = (
                "one of its numbers is not a value, a year or a count I can place"
                if any(c.isdigit() for c in word)
                else f'nothing in the workbook is called "{word}"'
            )
            return self._decline(aggregate, measure, group, missing)

        filters: list[Filter] = []
        for f in self.values:
            assert f.value is not None
            equal: str | int = int(f.value) if f.column.numeric else f.value
            filters.append(Filter(f.column, equal, table=None if f.table is table else f.table))
        compare_values: tuple[str | int, ...] = ()
        if len(year_values) >= 2:
            compare_values = tuple(year_values)
            if group is None and date_column is not None:
                group, group_table, grain = date_column, table, "year"
        elif date_column is not None:
            filters += [Filter(date_column, y, "year") for y in year_values]
        if date_column is not None:
            filters += [Filter(date_column, m, "month") for m in month_values]
            filters += [Filter(date_column, d, "day") for d in days]
        dated = [self._dates[int(w[7:])] for i, w in enumerate(ws) if w.startswith("isodate")]
        if dated and date_column is None:
            return self._decline(aggregate, measure, group, "the table has no date column")
        if len(dated) >= 2 and group is None and date_column is not None:
            compare_values = tuple(dated)  # "on 2024-05-04 or on 2024-05-05"
            group, group_table, grain = date_column, table, "day"
        elif date_column is not None:
            filters += [Filter(date_column, d, "date") for d in dated]
        # "the first half of the year versus the second": the halves, not the years
        by_year = group is not None and group is date_column and grain == "year"
        if len(quarters) >= 2 and (group is None or by_year) and date_column is not None:
            compare_values = tuple(f"Q{q}" for q in quarters)  # "Q2 vs Q3", across years
            group, group_table, grain = date_column, table, "quarter_of_year"
        elif date_column is not None:
            filters += [Filter(date_column, q, "quarter") for q in quarters]
        if len(halves) >= 2 and (group is None or by_year) and date_column is not None:
            compare_values = tuple(_HALVES[h] for h in halves)
            group, group_table, grain = date_column, table, "half"
        elif date_column is not None:
            filters += [Filter(date_column, h, "half") for h in halves]
        by_column: dict[str, list[Filter]] = {}
        for flt in filters:
            if not flt.part:
                by_column.setdefault(flt.column.name, []).append(flt)
        for same in by_column.values():
            if len(same) >= 2 and group is None:  # "North vs South": compared, not both
                filters = [f for f in filters if f not in same]
                compare_values = tuple(f.value for f in same if not isinstance(f.value, float))
                group = same[0].column
                group_table = same[0].table or table
        filters += self.conditions
        if group is not None and group.identifier and group_table in (None, table):
            named = self._label_through_join(group)
            if named is not None:
                group, group_table = named
        elif group is not None and group.identifier and self.join is not None:
            label = self.join.other.label_column()
            if group_table is self.join.other and label is not None:
                group = label  # the customers by name, not by their id
        if compare and not compare_values and group is None:
            return self._decline(aggregate, measure, group, "the two things to compare")

        order = ""
        listing = False
        if (
            counted is None
            and count_at >= 0
            and measure is None
            and text_named
            and any(w in {"list", "name", "which", "what"} for w in ws)
        ):
            counted = text_named[0].column  # "list the classes and say how many there are"
        if (
            counted is None
            and count_at >= 0
            and group is not None
            and pick
            and measure is None
            and limit is None
            and aggregate not in {"max", "min"}
        ):
            counted, group, pick = group, None, False  # "which subjects …, and how many"
        counted = counted or counted_figure
        if distinct and grain and count_at >= 0 and measure is None and date_column is not None:
            # "on how many different days": the days with rows, counted
            if group is date_column:
                group, group_table = None, None
            counted = date_column
        if counted is not None:
            aggregate, measure = "count_distinct", counted
            listing = any(w in {"which", "what", "list", "name"} for w in ws)
        if not aggregate:
            if measure is None:
                rows_named = any(w in table.words or w in _ROW_NOUNS for w in ws)
                if row_pick or (group is None and not share) or not (rows_named or filters):
                    return self._decline(aggregate, measure, group, "which figure to compute")
                aggregate = "count"  # "orders by status": the orders, counted
            else:
                aggregate = "avg" if measure.averaged else "sum"
        if aggregate in {"sum", "avg", "median", "min", "max"} and measure is None:
            counts = aggregate in {"max", "min"} and group is not None
            counts = counts and self._counts_rows(agg_at)
            figures = table.figures()
            vague = agg_word in {"best", "worst", "top", "bottom"} and limit is None
            vague = vague or count_at >= 0  # "biggest by headcount": rows counted, not summed
            if not counts and not vague and len(figures) == 1:
                measure = figures[0]  # "the average order from …": the sheet's one figure
        if aggregate in {"sum", "avg", "median", "min", "max"} and measure is None:
            if aggregate in {"max", "min"} and group is not None and self._counts_rows(agg_at):
                order = "desc" if aggregate == "max" else "asc"  # kept for the count
                aggregate, pick = "count", True  # "which region has the most orders"
            else:
                return self._decline(
                    aggregate, measure, group, "which numeric column to compute it over"
                )

        if measure is not None and aggregate in {"sum", "avg", "median"} and not measure.numeric:
            return self._decline(aggregate, None, group, f"{measure.name} is not a number")
        if (
            measure is not None
            and aggregate in {"min", "max"}
            and not (measure.numeric or measure.temporal)
        ):
            return self._decline(aggregate, None, group, f"{measure.name} is not a number")
        unused = self._unused(measure, group, counted, filters, text_named)
        if unused is not None:
            return self._decline(aggregate, measure, group, f"how {unused.name} fits the question")
        inner = aggregate
        if aggregate in {"max", "min"}:
            order = "desc" if aggregate == "max" else "asc"
            if group is not None:
                inner = "avg" if averaged or (measure is not None and measure.averaged) else "sum"
                pick = pick or limit is None
            else:
                row_pick = True
        elif pick and group is not None and not order:
            order = "desc"
        if ranked_all and group is not None and not order:
            order = "desc"
        if compare_values and not self._limit_asked:
            pick, row_pick, limit = False, False, None  # "Finance versus Operations": both
        if pick and limit is None:
            limit = 1
        if row_pick and limit is None:
            limit = 1
        if share and group is None and not filters:
            return self._decline(aggregate, measure, group, "the part to take the share of")
        return Plan(
            table=table,
            aggregate=inner,
            measure=measure,
            group=group,
            group_table=group_table if group_table is not table else None,
            grain=grain
            if (group is not None and group.temporal)
            or (inner == "count_distinct" and measure is not None and measure.temporal)
            else "",
            filters=tuple(filters),
            order=order,
            limit=limit,
            pick=pick and group is not None,
            row_pick=row_pick and group is None and inner in {"max", "min"},
            share=share,
            compare=compare_values,
            join=self.join,
            listing=listing,
        )

    def _operation(self, date_column: Column | None) -> _Operation:
        """The words that say what to compute: the aggregate, a count, a rank, a share, a
        comparison, a grain of time, a limit; each word used is consumed."""
        ws = self.ws
        table = self.table
        aggregate, agg_at, agg_word = "", -1, ""
        for i, w in enumerate(ws):
            if w in AGGREGATE_WORDS and i not in self.consumed:
                if not aggregate:
                    aggregate, agg_at, agg_word = AGGREGATE_WORDS[w], i, w
                self.consumed.add(i)
        for i in range(len(ws) - 1):
            if (ws[i], ws[i + 1]) == ("add", "up"):
                aggregate, agg_at = aggregate or "sum", i
                self.consumed.update({i, i + 1})
        how_much = -1
        for i in range(len(ws) - 1):
            if (ws[i], ws[i + 1]) == ("how", "much"):
                how_much = i
                self.consumed.update({i, i + 1})
        averaged = any(w in {"average", "mean", "avg"} for w in ws)
        if averaged and aggregate in {"max", "min"}:
            pass  # "the highest average salary": the average, ranked
        elif averaged:
            aggregate = "avg"
        count_at = how_many(ws)
        if count_at >= 0:
            self.consumed.update({count_at - 2, count_at - 1})
            if not aggregate or agg_word in {"count"}:
                aggregate = "count"
        for i, w in enumerate(ws):
            if w in COUNT_WORDS:  # "count", "headcount", "tally"
                self.consumed.add(i)
                aggregate = aggregate or "count"
                count_at = i + 1 if count_at < 0 else count_at
        ranked_all = False
        for i, w in enumerate(ws):
            if w in RANK_WORDS:  # "rank products by units": every group, in order
                self.consumed.add(i)
                ranked_all = True
        distinct = bool(DISTINCT_WORDS.intersection(ws))
        share = bool(SHARE_WORDS.intersection(ws))
        compare = bool(COMPARE_WORDS.intersection(ws))
        for i, w in enumerate(ws):
            if w in DISTINCT_WORDS or w in SHARE_WORDS or w in COMPARE_WORDS or w in _GROUP_CUES:
                self.consumed.add(i)
        grain = ""
        for i, w in enumerate(ws):
            if w in _TREND_WORDS and date_column is not None:
                self.consumed.add(i)  # "how did revenue change by month"
        for i, w in enumerate(ws):
            if w in GRAIN_WORDS and date_column is not None and i not in self.consumed:
                grain = grain or GRAIN_WORDS[w]
                if GRAIN_WORDS[w] == grain:  # "month by month": both name the one grain
                    self.consumed.add(i)
        if table.row_total is not None:
            for i, w in enumerate(ws):  # "annual", "for the year", "per month": the row total
                if w in GRAIN_WORDS:
                    self.consumed.add(i)

        limit: int | None = None
        ranked = aggregate in {"max", "min"} or any(
            AGGREGATE_WORDS.get(w) in {"max", "min"} for w in ws
        )
        for i, w in enumerate(ws):
            n = NUMBER_WORDS.get(w) or (int(w) if w.isdigit() and not YEAR.fullmatch(w) else 0)
            if not n or not 0 < n <= 100 or i in self.consumed:
                continue
            before = ws[i - 1] if i > 0 else ""
            if ranked and (
                before in {"top", "bottom", "which", "what", "the", "first", "last"}
                or before in AGGREGATE_WORDS
                or (i + 1 < len(ws) and ws[i + 1] in AGGREGATE_WORDS)
            ):
                limit = n
                self.consumed.add(i)
        return _Operation(
            aggregate,
            agg_at,
            agg_word,
            how_much,
            averaged,
            count_at,
            ranked_all,
            distinct,
            share,
            compare,
            grain,
            limit,
        )

    def _calendar(self, date_column: Column | None) -> _Calendar | Decline:
        """Years, months, days, quarters and halves the question names on the date column."""
        ws = self.ws
        years = [i for i, w in enumerate(ws) if YEAR.fullmatch(w) and i not in self.consumed]
        year_values = [int(ws[i]) for i in years]
        if year_values and date_column is None:
            return self._decline("", None, None, "the table has no date column for a year")
        self.consumed.update(years)
        month_values: list[int] = []
        days: list[str] = []
        if date_column is not None:
            for i, w in enumerate(ws):
                if w in MONTH_WORDS and i not in self.consumed:
                    self.consumed.add(i)
                    nxt = ws[i + 1] if i + 1 < len(ws) else ""
                    if nxt.isdigit() and 1 <= int(nxt) <= 31:  # "May 3": that day
                        days.append(f"{MONTH_WORDS[w]:02d}-{int(nxt):02d}")
                        self.consumed.add(i + 1)
                    else:
                        month_values.append(MONTH_WORDS[w])
        quarters: list[int] = []
        halves: list[int] = []
        if date_column is not None:
            for i, w in enumerate(ws):
                if i in self.consumed:
                    continue
                if re.fullmatch(r"q[1-4]", w):  # "in Q2", "Q2 vs Q3"
                    quarters.append(int(w[1]))
                    self.consumed.add(i)
                elif w == "half" and i > 0 and ws[i - 1] in {"first", "second"}:
                    halves.append(1 if ws[i - 1] == "first" else 2)  # "the first half"
                    self.consumed.update({i - 1, i})
        return _Calendar(year_values, month_values, days, quarters, halves)

    def _negate_yes_no(self, negated: list[int]) -> bool:
        """ "would not recommend": a yes/no column's filter turned to its no."""
        for index, f in enumerate(self.values):
            values = {v.lower(): v for v in f.column.values}
            if f.value is not None and f.value.lower() in _YES and set(values) <= _YES_NO:
                no = next((v for k, v in values.items() if k not in _YES), None)
                if no is None:
                    return False
                self.values[index] = Found(f.start, f.end, f.column, f.table, no)
                self.consumed.update(negated)
                return True
        return False

    def _unused(
        self,
        measure: Column | None,
        group: Column | None,
        counted: Column | None,
        filters: list[Filter],
        text_named: list[Found],
    ) -> Column | None:
        """A column the question names that the plan does not use: better asked than left
        out ("salary bill for each job title" must not become the total salary)."""
        used = {c.name for c in (measure, group, counted) if c is not None}
        used |= {f.column.name for f in filters}
        used |= set(measure.parts) if measure is not None else set()
        label = self.table.label_column()
        for f in self.columns:
            if f.column.name in used or f.column.temporal:
                continue
            if f.column.identifier or (label is not None and f.column.name == label.name):
                continue  # "the respondents", "our items": the rows themselves
            if self.join is not None and f.column.name in {self.join.key, self.join.other_key}:
                continue
            return f.column
        return None

    def _counts_rows(self, at: int) -> bool:
        """ "the most orders", "the most rows": what is ranked is a count of the rows."""
        after = self.ws[at + 1 : at + 3] if at >= 0 else []
        if any(w in {"total", "sum", "amount", "value"} for w in self.ws[at + 1 : at + 4]):
            return False  # "the largest order totals": a figure, not a count
        nouns = set(self.table.words) | _ROW_NOUNS | {"row", "record", "entry", "sale", "order"}
        # "the most errors": the rows holding a value, counted
        valued = any(at < f.start <= at + 2 for f in self.values)
        counted = "number" in self.ws or bool(COUNT_WORDS.intersection(self.ws))
        return valued or counted or any(w in nouns for w in after)

    def _row_measure(self, aggregate: str, averaged: bool) -> Column | None:
        """On a table with months as columns: the row's total, its monthly average, its
        largest or smallest month; None when the question ranks the months themselves."""
        total = self.table.row_total
        assert total is not None
        ws = self.ws
        monthly = "month" in ws or "monthly" in ws
        which_month = any(ws[i] in _PICK_CUES and ws[i + 1] == "month" for i in range(len(ws) - 1))
        if which_month:
            return None
        if any(
            ws[i] in {"by", "each", "every"} and ws[i + 1] == "month" for i in range(len(ws) - 1)
        ):
            return None
        if monthly and averaged:
            return dataclasses.replace(total, name="monthly average", parts_op="avg")
        if monthly and self._limit_asked:
            return None  # "the two costliest months": the months themselves ranked
        if monthly and aggregate in {"max", "min"}:
            name = "largest month" if aggregate == "max" else "smallest month"
            return dataclasses.replace(total, name=name, parts_op=aggregate)
        return total

    def _label_through_join(self, key: Column) -> tuple[Column, Table] | None:
        """Customer ID grouped: the customers' names instead, joined on the id."""
        if self.join is not None:
            return None
        for other in self._tables:
            if other is self.table:
                continue
            shared = _shared_key(self.table, other)
            label = other.label_column()
            if shared is not None and shared[0] == key.name and label is not None:
                self.join = Join(other, shared[0], shared[1])
                return label, other
        return None

    def _decline(
        self, aggregate: str, measure: Column | None, group: Column | None, missing: str
    ) -> Decline:
        parts = []
        names = {"sum": "a total", "avg": "an average", "count": "a count"}
        if aggregate:
            parts.append(names.get(aggregate, f"the {aggregate}imum"))
        if measure is not None:
            parts.append(f"of {measure.name}")
        if group is not None:
            parts.append(f"by {group.name}")
        parts += [f"for {f.column.name} {f.value}" for f in self.values]
        parts.append(f"in sheet {self.table.sheet}")
        return Decline(
            understood=" ".join(parts), missing=missing, suggestions=_suggestions(self.table)
        )


_ROW_NOUNS = frozenset(
    {"employee", "person", "student", "customer", "item", "product", "one", "line", "entry"}
)


def _is_inflection_of(word: str, table: Table) -> bool:
    """ "budgeted" beside a table called Budget, "scored" beside a Score column."""
    stems = {word[:-2], word[:-1], word[:-3]} if word.endswith(("ed", "ing")) else set()
    names = set(table.words) | {w for c in table.columns for w in c.words}
    return bool(stems & names)


def _shared_key(table: Table, other: Table) -> tuple[str, str] | None:
    """The column both tables have (by its words), to join them on."""
    for column in table.columns:
        if column.numeric and not column.identifier:
            continue
        for theirs in other.columns:
            if theirs.words == column.words:
                return column.name, theirs.name
    return None


def _suggestions(table: Table) -> tuple[str, ...]:
    """Queries that do run on the table: a total of its first figures, a count by a group."""
    out = []
    numeric = table.figures()
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
