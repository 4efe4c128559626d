"""The evaluation workbooks: eight small, everyday workbooks the question planner is measured on.

:func:`build_all` writes them deterministically (each from its own fixed
:class:`random.Random` seed, never the clock), so the same questions always have the same
answers. :func:`read_rows` reads their data rows back with openpyxl and the :mod:`csv`
module, independently of sheetstream's own parsing, so gold answers never depend on the code
under measurement.

The workbooks cover the shapes people upload: a plain table (``sales.xlsx``), two related
sheets (``staff.xlsx``, ``orders.xlsx``), a title above the header and a totals row below the
data (``inventory.xlsx``), a wide survey (``survey.xlsx``), months as columns
(``budget.xlsx``), a CSV log (``log.csv``) and a long table of scores (``grades.xlsx``).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

from openpyxl import Workbook, load_workbook  # type: ignore[import-untyped, unused-ignore]

__all__ = ["MONTHS", "TOTAL_LABELS", "build_all", "read_rows"]

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# A row with one of these texts in a cell (case and surrounding blanks ignored) sums the rows
# above it; it is not data.
TOTAL_LABELS = frozenset({"total", "totals", "grand total"})

_DATE_FORMAT = "yyyy-mm-dd"

# openpyxl stamps the save time into docProps/core.xml and the zip entries; the workbooks
# carry this fixed moment instead, so every build is byte for byte the same.
_STAMP = dt.datetime(2024, 3, 1)
_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(<)")

Cell = object
Row = dict[str, object]


def _days(rng: random.Random, first: dt.date, last: dt.date) -> dt.datetime:
    """A random day from ``first`` to ``last`` inclusive, as a midnight datetime."""
    day = first + dt.timedelta(days=rng.randint(0, (last - first).days))
    return dt.datetime(day.year, day.month, day.day)


def _save(
    path: Path,
    sheets: Sequence[tuple[str, Sequence[Sequence[Cell]]]],
    date_columns: dict[str, Iterable[int]] | None = None,
) -> Path:
    """Write ``sheets`` (name, rows) to ``path``, formatting the given 1-based date columns."""
    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets:
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
        for column in (date_columns or {}).get(name, ()):
            for (cell,) in sheet.iter_rows(min_col=column, max_col=column, min_row=2):
                if isinstance(cell.value, dt.datetime):
                    cell.number_format = _DATE_FORMAT
    book.properties.created = _STAMP
    book.save(path)
    _fix_stamps(path)
    return path


def _fix_stamps(path: Path) -> None:
    """Rewrite the saved workbook with the fixed :data:`_STAMP` instead of the save time."""
    with ZipFile(path) as archive:
        parts = [(info.filename, archive.read(info)) for info in archive.infolist()]
    stamp = _STAMP.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with ZipFile(path, "w", ZIP_DEFLATED) as archive:
        for name, content in parts:
            if name == "docProps/core.xml":
                content = _MODIFIED.sub(rb"\g<1>" + stamp + rb"\g<2>", content)
            info = ZipInfo(name, date_time=_STAMP.timetuple()[:6])
            info.compress_type = ZIP_DEFLATED
            archive.writestr(info, content)


def _sales(path: Path) -> Path:
    rng = random.Random(2021)
    base_price = {"Widget": 12.5, "Gadget": 24.0, "Gizmo": 7.25, "Doohickey": 49.9}
    regions = ("North", "South", "East", "West")
    records: list[list[Cell]] = []
    for _ in range(300):
        date = _days(rng, dt.date(2021, 1, 1), dt.date(2023, 12, 31))
        product = rng.choice(tuple(base_price))
        units = rng.randint(1, 60)
        price = round(base_price[product] * rng.uniform(0.85, 1.15), 2)
        records.append([date, rng.choice(regions), product, units, price, round(units * price, 2)])
    records.sort(key=lambda record: (str(record[0]), str(record[1]), str(record[2])))
    header: list[Cell] = ["Date", "Region", "Product", "Units", "Unit Price", "Revenue"]
    return _save(path, [("Sales", [header, *records])], {"Sales": (1,)})


_FIRST_NAMES = (
    "Alice", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
    "Kira", "Liam", "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sam", "Tara",
)  # fmt: skip
_LAST_NAMES = (
    "Adams", "Brown", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jones",
    "Khan", "Lopez", "Meyer", "Novak", "Olsen", "Patel", "Reyes", "Silva", "Tanaka", "Weber",
)  # fmt: skip


def _names(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct "First Last" names."""
    every = [f"{first} {last}" for first in _FIRST_NAMES for last in _LAST_NAMES]
    return rng.sample(every, count)


def _staff(path: Path) -> Path:
    rng = random.Random(1960)
    departments = {
        # department: (floor, salary low, salary high)
        "Engineering": (3, 70_000, 140_000),
        "Sales": (1, 45_000, 95_000),
        "Marketing": (2, 50_000, 100_000),
        "Finance": (2, 60_000, 120_000),
        "Support": (1, 38_000, 70_000),
        "Operations": (4, 42_000, 90_000),
    }
    titles = ("Associate", "Specialist", "Senior Specialist", "Lead")
    names = _names(rng, 60 + len(departments))
    managers, people = names[: len(departments)], names[len(departments) :]
    employees: list[list[Cell]] = []
    for index, name in enumerate(people):
        # Every department gets staff: the first six employees go one to each; the rest
        # follow the departments' sizes, so the headcounts differ.
        department = tuple(departments)[index % len(departments)]
        if index >= len(departments):
            department = rng.choices(tuple(departments), weights=(5, 4, 2, 1, 3, 2))[0]
        _, low, high = departments[department]
        hired = _days(rng, dt.date(2012, 1, 1), dt.date(2023, 12, 31))
        salary = rng.randrange(low, high, 500)
        employees.append([name, department, hired, salary, rng.choice(titles)])
    employees.sort(key=lambda record: str(record[0]))
    header: list[Cell] = ["Name", "Department", "Hire Date", "Salary", "Title"]
    table: list[list[Cell]] = [["Department", "Floor", "Manager"]]
    for (department, (floor, _, _)), manager in zip(departments.items(), managers, strict=True):
        table.append([department, floor, manager])
    return _save(
        path, [("Employees", [header, *employees]), ("Departments", table)], {"Employees": (3,)}
    )


def _inventory(path: Path) -> Path:
    rng = random.Random(2024)
    items = {
        "Tools": ("Hammer", "Screwdriver Set", "Wrench", "Pliers", "Tape Measure", "Saw",
                  "Chisel", "Level", "Utility Knife", "Drill Bits"),
        "Hardware": ("Wood Screws", "Wall Anchors", "Hinges", "Bolts", "Nuts", "Washers",
                     "Nails", "Brackets", "Door Handle", "Padlock"),
        "Electrical": ("Light Bulb", "Extension Cord", "Wall Switch", "Socket", "Cable Ties",
                       "Fuse", "Junction Box", "Wire Spool", "Dimmer", "Battery Pack"),
        "Plumbing": ("Pipe Wrench", "PVC Pipe", "Faucet", "Drain Plug", "Valve", "Sealant Tape",
                     "Hose Clamp", "Shower Head", "Pipe Elbow", "Plunger"),
    }  # fmt: skip
    records: list[list[Cell]] = []
    for category, names in items.items():
        for name in names:
            sku = f"{category[:2].upper()}-{100 + len(records):04d}"
            quantity = rng.randint(0, 250)
            cost = round(rng.uniform(0.4, 60.0), 2)
            records.append([sku, name, category, quantity, cost, rng.choice((10, 20, 25, 50))])
    total_quantity = sum(int(str(record[3])) for record in records)
    rows: list[list[Cell]] = [
        ["Warehouse stock, March 2024"],
        [],
        ["SKU", "Item", "Category", "Quantity", "Unit Cost", "Reorder Level"],
        *records,
        [None, "Total", None, total_quantity, None, None],
    ]
    return _save(path, [("Stock", rows)])


def _survey(path: Path) -> Path:
    rng = random.Random(12)
    countries = ("Germany", "France", "USA", "UK", "Japan", "Brazil")
    questions = [f"Q{number}" for number in range(1, 13)]
    header: list[Cell] = ["Respondent ID", "Age", "Country", *questions, "Would Recommend"]
    records: list[list[Cell]] = []
    for number in range(1, 121):
        # Each respondent leans a little positive or negative; recommending follows the lean.
        lean = rng.choice((-1, 0, 0, 1))
        answers = [min(5, max(1, rng.randint(1, 5) + lean)) for _ in questions]
        recommend = "Yes" if sum(answers) / len(answers) + rng.uniform(-1, 1) >= 3 else "No"
        age = rng.randint(18, 75)
        records.append([f"R{number:03d}", age, rng.choice(countries), *answers, recommend])
    return _save(path, [("Responses", [header, *records])])


def _budget(path: Path) -> Path:
    rng = random.Random(99)
    monthly = {
        # category: (typical amount, spread); Rent is flat.
        "Rent": (12_000, 0),
        "Salaries": (85_000, 4_000),
        "Marketing": (9_000, 4_500),
        "Travel": (4_000, 2_500),
        "Software": (6_500, 1_500),
        "Utilities": (2_200, 600),
    }
    rows: list[list[Cell]] = [["Category", *MONTHS]]
    for category, (typical, spread) in monthly.items():
        amounts = [typical + rng.randrange(-spread, spread + 1, 50) for _ in MONTHS]
        rows.append([category, *amounts])
    return _save(path, [("Budget", rows)])


def _log(path: Path) -> Path:
    rng = random.Random(5)
    start = dt.datetime(2024, 5, 1)
    span = int(dt.timedelta(days=7).total_seconds())
    moments = sorted(start + dt.timedelta(seconds=rng.randrange(span)) for _ in range(400))
    typical = {"api": 120, "worker": 900, "db": 40}
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["timestamp", "level", "service", "duration_ms"])
        for moment in moments:
            level = rng.choices(("INFO", "WARN", "ERROR"), weights=(70, 20, 10))[0]
            service = rng.choice(tuple(typical))
            duration = max(1, int(rng.gauss(typical[service], typical[service] / 3)))
            writer.writerow([moment.isoformat(), level, service, duration])
    return path


def _orders(path: Path) -> Path:
    rng = random.Random(77)
    cities = ("Berlin", "Paris", "London", "Madrid", "Rome", "Vienna")
    segments = ("Consumer", "Corporate", "Small Business")
    trees = (
        "Alder", "Birch", "Cedar", "Elm", "Fir", "Hazel", "Juniper", "Larch", "Maple", "Oak",
        "Pine", "Rowan", "Spruce", "Willow", "Yew", "Ash", "Beech", "Cypress", "Hawthorn",
        "Holly", "Laurel", "Linden", "Magnolia", "Olive", "Poplar", "Redwood", "Sequoia",
        "Sycamore", "Walnut", "Chestnut",
    )  # fmt: skip
    kinds = ("Trading", "Foods", "Labs", "Logistics", "Studio")
    companies = [f"{tree} {kinds[index % len(kinds)]}" for index, tree in enumerate(trees)]
    customers: list[list[Cell]] = [["Customer ID", "Customer Name", "City", "Segment"]]
    for number, company in enumerate(companies, start=1):
        customers.append([f"C{number:03d}", company, rng.choice(cities), rng.choice(segments)])
    # A few customers never order, so "customers who placed orders" differs from all customers.
    buyers = [f"C{number:03d}" for number in range(1, len(companies) + 1)][:-3]
    orders: list[list[Cell]] = []
    for _ in range(150):
        date = _days(rng, dt.date(2023, 1, 1), dt.date(2023, 12, 31))
        status = rng.choices(("Shipped", "Pending", "Cancelled"), weights=(75, 15, 10))[0]
        amount = round(rng.uniform(15, 1_200), 2)
        orders.append([None, rng.choice(buyers), date, amount, status])
    orders.sort(key=lambda record: str(record[2]))
    for number, record in enumerate(orders, start=1001):
        record[0] = f"O{number}"
    header: list[Cell] = ["Order ID", "Customer ID", "Order Date", "Amount", "Status"]
    return _save(path, [("Orders", [header, *orders]), ("Customers", customers)], {"Orders": (3,)})


def _grades(path: Path) -> Path:
    rng = random.Random(31)
    subjects = ("Math", "Science", "History", "English")
    students = sorted(name.split()[0] + " " + name.split()[1][0] + "." for name in _names(rng, 25))
    classes = {student: "ABC"[index % 3] for index, student in enumerate(students)}
    talent = {student: rng.randint(55, 85) for student in students}
    rows: list[list[Cell]] = [["Student", "Class", "Subject", "Score", "Term"]]
    for term in ("Fall", "Spring"):
        for student in students:
            for subject in subjects:
                score = min(100, max(0, talent[student] + rng.randint(-20, 20)))
                rows.append([student, classes[student], subject, score, term])
    return _save(path, [("Grades", rows)])


_BUILDERS: dict[str, Callable[[Path], Path]] = {
    "sales.xlsx": _sales,
    "staff.xlsx": _staff,
    "inventory.xlsx": _inventory,
    "survey.xlsx": _survey,
    "budget.xlsx": _budget,
    "log.csv": _log,
    "orders.xlsx": _orders,
    "grades.xlsx": _grades,
}


def build_all(directory: Path) -> dict[str, Path]:
    """Write every evaluation workbook into ``directory``; return file name → path."""
    directory.mkdir(parents=True, exist_ok=True)
    return {name: build(directory / name) for name, build in _BUILDERS.items()}


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_totals(values: Sequence[object]) -> bool:
    """Whether a row is a totals row: a cell says "Total" (or the like)."""
    return any(
        isinstance(value, str) and value.strip().casefold() in TOTAL_LABELS for value in values
    )


def _records(grid: Iterable[Sequence[object]]) -> list[Row]:
    """Data rows under the header: the first row with at least two filled cells.

    Rows above the header (titles, blank lines), blank rows and totals rows are left out.
    """
    header: list[str] | None = None
    rows: list[Row] = []
    for values in grid:
        if header is None:
            if sum(not _is_blank(value) for value in values) >= 2:
                header = ["" if _is_blank(value) else str(value).strip() for value in values]
            continue
        if all(_is_blank(value) for value in values) or _is_totals(values):
            continue
        padded = [*values, *[None] * (len(header) - len(values))]
        rows.append({name: value for name, value in zip(header, padded, strict=False) if name})
    return rows


def _csv_value(text: str) -> object:
    """A CSV field as int, float or datetime when it reads as one; else the text."""
    text = text.strip()
    if not text:
        return None
    for convert in (int, float, dt.datetime.fromisoformat):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def read_rows(path: Path, sheet: str | None = None) -> list[Row]:
    """The data rows of ``path`` (of ``sheet``, else the first sheet) as header → value.

    Reads with openpyxl (cached values, dates as :class:`datetime.datetime`) or the
    :mod:`csv` module (numbers as int/float, ISO timestamps as datetime); starts at the
    header row and leaves out totals rows.
    """
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as stream:
            grid = [[_csv_value(field) for field in record] for record in csv.reader(stream)]
        return _records(grid)
    book = load_workbook(path, read_only=True, data_only=True)
    try:
        worksheet = book[sheet] if sheet is not None else book.worksheets[0]
        return _records(list(row) for row in worksheet.iter_rows(values_only=True))
    finally:
        book.close()
