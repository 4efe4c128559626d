"""A plan as one read-only DuckDB query; every name quoted, every value a literal."""

from __future__ import annotations

from sheetstream.planner.plan import Filter, Plan
from sheetstream.planner.schema import Column, Table

# the result's figure column, and the group column's label, by operation
_OPERATIONS = {
    "sum": "total",
    "avg": "average",
    "count": "count",
    "count_distinct": "distinct",
    "min": "lowest",
    "max": "highest",
    "median": "median",
}
FIGURE = "figure"
SHARE = "share %"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: str | int | float) -> str:
    if isinstance(value, int | float):
        return repr(value)
    return "'" + value.replace("'", "''") + "'"


def to_sql(plan: Plan) -> str:
    """The one query that answers the plan."""
    source = _source(plan)
    where = _where(plan)
    figure = _figure(plan)
    if plan.row_pick:
        return _row_pick(plan, source, where)
    if plan.group is None:
        if plan.share:
            return _share_of_filter(plan, source)
        if plan.listing and plan.measure is not None:
            column = _column(plan.measure, plan)
            values = f"string_agg(DISTINCT {column}, ', ' ORDER BY {column})"
            return (
                f"SELECT {figure} AS {quote(FIGURE)}, {values} AS {quote('values')} "
                f"FROM {source}{where}"
            )
        return f"SELECT {figure} AS {quote(FIGURE)} FROM {source}{where}"
    group = _group_expr(plan)
    select = [f"{group} AS {quote(plan.group.name if not plan.grain else plan.grain)}"]
    select.append(f"{figure} AS {quote(FIGURE)}")
    if plan.share:
        select.append(f"round(100.0 * {_raw_figure(plan)} / sum({_raw_figure(plan)}) OVER (), 1)")
        select[-1] += f" AS {quote(SHARE)}"
    conditions = _conditions(plan)
    if plan.compare:
        values = ", ".join(literal(v) for v in plan.compare)
        if plan.grain:  # the periods compared: years, days, quarters, halves
            period = _grain_expr(plan.grain, _column(plan.group, plan, plan.group_table))
            conditions.append(f"{period} IN ({values})")
        else:
            conditions.append(f"{_column(plan.group, plan, plan.group_table)} IN ({values})")
    conditions.append(f"{_column(plan.group, plan, plan.group_table)} IS NOT NULL")
    where = " WHERE " + " AND ".join(conditions)
    if plan.order:
        order = f"2 {plan.order.upper()}, 1"
    elif plan.grain:
        order = "1"
    else:
        order = "2 DESC, 1"
    sql = f"SELECT {', '.join(select)} FROM {source}{where} GROUP BY 1 ORDER BY {order}"
    if plan.limit is not None:
        sql += f" LIMIT {plan.limit:d}"
    return _with_every_period(plan, sql)


def _with_every_period(plan: Plan, sql: str) -> str:
    """A trend within one year lists every month (or quarter), those without rows as 0."""
    if plan.aggregate not in {"sum", "count", "count_distinct"} or plan.share or plan.limit:
        return sql
    figure = quote(FIGURE)
    if plan.grain == "year" and not plan.compare:  # every year from the first to the last
        name = quote("year")
        return (
            f"WITH figures AS ({sql}), periods AS (SELECT range AS {name} FROM "
            f"range((SELECT min({name}) FROM figures), (SELECT max({name}) FROM figures) + 1)) "
            f"SELECT {name}, coalesce(figures.{figure}, 0) AS {figure} "
            f"FROM periods LEFT JOIN figures USING ({name}) ORDER BY 1"
        )
    years = [f.value for f in plan.filters if f.part == "year" and f.op == "="]
    if plan.grain in {"month", "day"} and not years and not plan.compare:
        # every month (or day) from the first to the last that has rows
        name = quote(plan.grain)
        unit, pattern = ("MONTH", "%Y-%m") if plan.grain == "month" else ("DAY", "%Y-%m-%d")
        first = f"(SELECT strptime(min({name}), '{pattern}') FROM figures)"
        last = f"(SELECT strptime(max({name}), '{pattern}') FROM figures)"
        periods = (
            f"SELECT strftime(range, '{pattern}') AS {name} "
            f"FROM range({first}, {last} + INTERVAL 1 {unit}, INTERVAL 1 {unit})"
        )
        return (
            f"WITH figures AS ({sql}), periods AS ({periods}) "
            f"SELECT {name}, coalesce(figures.{figure}, 0) AS {figure} "
            f"FROM periods LEFT JOIN figures USING ({name}) ORDER BY 1"
        )
    if plan.grain not in {"month", "quarter"} or len(years) != 1:
        return sql
    year = int(years[0])
    name = quote(plan.grain)
    if plan.grain == "month":
        periods = (
            f"SELECT strftime(make_date({year}, n, 1), '%Y-%m') AS {name} FROM range(1, 13) t(n)"
        )
    else:
        periods = f"SELECT concat({year}, '-Q', n) AS {name} FROM range(1, 5) t(n)"
    return (
        f"WITH periods AS ({periods}), figures AS ({sql}) "
        f"SELECT {name}, coalesce(figures.{figure}, 0) AS {figure} "
        f"FROM periods LEFT JOIN figures USING ({name}) ORDER BY 1"
    )


def _source(plan: Plan) -> str:
    if plan.join is None:
        return quote(plan.table.table)
    return (
        f"{quote(plan.table.table)} AS a JOIN {quote(plan.join.other.table)} AS b "
        f"ON a.{quote(plan.join.key)} = b.{quote(plan.join.other_key)}"
    )


def _column(column: Column, plan: Plan, table: Table | None = None) -> str:
    if column.parts:  # a row's figure over several columns: blanks count as nothing
        cells = [f"coalesce({quote(p)}, 0)" for p in column.parts]
        if column.parts_op == "max":
            return f"greatest({', '.join(cells)})"
        if column.parts_op == "min":
            return f"least({', '.join(cells)})"
        total = "(" + " + ".join(cells) + ")"
        return f"({total} / {len(cells)})" if column.parts_op == "avg" else total
    if plan.join is None:
        return quote(column.name)
    alias = "b" if table is not None and table is plan.join.other else "a"
    return f"{alias}.{quote(column.name)}"


def _raw_figure(plan: Plan) -> str:
    if plan.measure is None or plan.aggregate == "count":
        return "count(*)"
    column = _column(plan.measure, plan)
    if plan.aggregate == "count_distinct":
        if plan.grain and plan.measure.temporal:  # different days, months …: of the dates
            return f"count(DISTINCT {_grain_expr(plan.grain, column)})"
        return f"count(DISTINCT {column})"
    return f"{plan.aggregate}({column})"


def _figure(plan: Plan) -> str:
    raw = _raw_figure(plan)
    if plan.aggregate in {"sum", "avg", "median"} and plan.measure is not None:
        return f"round({raw}, 2)"
    return raw


def _group_expr(plan: Plan) -> str:
    assert plan.group is not None
    return _grain_expr(plan.grain, _column(plan.group, plan, plan.group_table))


def _grain_expr(grain: str, column: str) -> str:
    """A date column as the period it falls in: its year, quarter, month, week or day."""
    if grain == "year":
        return f"year({column})"
    if grain == "quarter":
        return f"concat(year({column}), '-Q', quarter({column}))"
    if grain == "month":
        return f"strftime({column}, '%Y-%m')"
    if grain == "week":
        return f"strftime(date_trunc('week', {column}), '%Y-%m-%d')"
    if grain == "day":
        return f"strftime({column}, '%Y-%m-%d')"
    if grain == "quarter_of_year":  # Q2 of every year together
        return f"concat('Q', quarter({column}))"
    if grain == "half":
        return f"CASE WHEN month({column}) <= 6 THEN 'first half' ELSE 'second half' END"
    return column


def _condition(flt: Filter, plan: Plan) -> str:
    column = _column(flt.column, plan, flt.table)
    if flt.part == "year":
        return f"year({column}) {flt.op} {literal(flt.value)}"
    if flt.part == "month":
        return f"month({column}) {flt.op} {literal(flt.value)}"
    if flt.part == "day":
        return f"strftime({column}, '%m-%d') = {literal(flt.value)}"
    if flt.part == "date":
        return f"CAST({column} AS DATE) = DATE {literal(flt.value)}"
    if flt.part == "quarter":
        return f"quarter({column}) = {literal(flt.value)}"
    if flt.part == "half":
        return f"month({column}) {'<=' if flt.value == 1 else '>'} 6"
    return f"{column} {flt.op} {literal(flt.value)}"


def _conditions(plan: Plan) -> list[str]:
    return [_condition(f, plan) for f in plan.filters]


def _where(plan: Plan) -> str:
    conditions = _conditions(plan)
    return " WHERE " + " AND ".join(conditions) if conditions else ""


def _share_of_filter(plan: Plan, source: str) -> str:
    """The filtered part's figure, the whole's, and the part as a percentage of it."""
    part = " AND ".join(_conditions(plan))
    raw = _raw_figure(plan)
    filtered = f"{raw[:-1]}) FILTER (WHERE {part})" if raw.endswith(")") else raw
    return (
        f"SELECT round(100.0 * {filtered} / {raw}, 1) AS {quote(SHARE)}, "
        f"round({filtered}, 2) AS {quote('part')}, round({raw}, 2) AS {quote('whole')} "
        f"FROM {source}"
    )


def _row_pick(plan: Plan, source: str, where: str) -> str:
    """The rows holding the highest (or lowest) value of the measure: ties are all shown."""
    assert plan.measure is not None
    measure = _column(plan.measure, plan)
    label = plan.table.row_label()
    shown = f"{measure} AS {quote(plan.measure.name)}"
    select = [shown] if label is None else [_column(label, plan), shown]
    best = "max" if plan.order != "asc" else "min"
    if plan.limit is not None and plan.limit > 1:
        direction = "DESC" if plan.order != "asc" else "ASC"
        present = f"{measure} IS NOT NULL"
        filtered = f"{where} AND {present}" if where else f" WHERE {present}"
        return (
            f"SELECT {', '.join(select)} FROM {source}{filtered} "
            f"ORDER BY {measure} {direction} LIMIT {plan.limit:d}"
        )
    inner = f"SELECT {best}({measure}) FROM {source}{where}"
    condition = f"{measure} = ({inner})"
    full_where = f"{where} AND {condition}" if where else f" WHERE {condition}"
    return f"SELECT {', '.join(select)} FROM {source}{full_where} LIMIT 20"
