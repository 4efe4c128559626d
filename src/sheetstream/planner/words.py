"""The words of a question and of column names: lower case, split, singular."""

from __future__ import annotations

import re

# a number as written ("100,000", "2.5") is one word; so is "q3" or "let's"
_WORD = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|[a-z0-9]+(?:'[a-z]+)?|%")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


# Words that carry no reference to the data: a question made only of these and of words
# that name columns, values and operations is fully understood.
def word_set(text: str) -> frozenset[str]:
    """The words of a block of text, as a set: long word lists stay readable."""
    return frozenset(text.split())


STOPWORDS = word_set(
    """
    a an the of in on at to for from with by per and or is are was were be been being do does
    did done have has had what which who whom whose when where how me my our we us you your i
    it its this that these those there their them they give show tell list find get see want
    please can could would will should may might must shall let let's all any each every
    number numbers figure figures data sheet table workbook spreadsheet
    row rows record records entry entries overall altogether combined together so far as than
    out up down over under across between among into about within during only just
    also then else such same other another one ones much many more most less least
    """
)

# Words too common to name a column on their own: a column called "Value" or "Number" is
# named by them, but a column whose words are all of these is not matched.
FUNCTION_WORDS = word_set(
    """
    a an the of in on at to for from with by per and or is are was were be do does did what
    which who how it its this that there all any each every
    """
)

# operation words, by the aggregate they ask for
AGGREGATE_WORDS: dict[str, str] = {
    "total": "sum",
    "sum": "sum",
    "sums": "sum",
    "summed": "sum",
    "average": "avg",
    "avg": "avg",
    "mean": "avg",
    "typical": "avg",
    "count": "count",
    "maximum": "max",
    "max": "max",
    "highest": "max",
    "largest": "max",
    "biggest": "max",
    "greatest": "max",
    "top": "max",
    "best": "max",
    "most": "max",
    "minimum": "min",
    "min": "min",
    "lowest": "min",
    "smallest": "min",
    "fewest": "min",
    "bottom": "min",
    "worst": "min",
    "least": "min",
    "median": "median",
    "cheapest": "min",
    "priciest": "max",
    "costliest": "max",
    "dearest": "max",
    "longest": "max",
    "slowest": "max",
    "oldest": "max",
    "latest": "max",
    "shortest": "min",
    "fastest": "min",
    "quickest": "min",
    "youngest": "min",
    "earliest": "min",
}
# what an adjective measures, when the question names no figure: "the oldest" is an age
IMPLIED_MEASURES: dict[str, tuple[str, ...]] = {
    "oldest": ("age",),
    "youngest": ("age",),
    "longest": ("duration", "time", "length"),
    "shortest": ("duration", "time", "length"),
    "slowest": ("duration", "time", "latency"),
    "fastest": ("duration", "time", "latency"),
    "quickest": ("duration", "time", "latency"),
    "long": ("duration", "time", "length"),
    "cheapest": ("price", "cost"),
    "priciest": ("price", "cost"),
    "costliest": ("cost", "price"),
    "dearest": ("price", "cost"),
}
# words for a figure, when the workbook has a column of that name: "earn" is a salary
SYNONYMS: dict[str, tuple[str, ...]] = {
    "earn": ("salary", "pay", "wage", "income"),
    "earner": ("salary", "pay", "wage", "income"),
    "paid": ("salary", "pay", "wage"),
    "payroll": ("salary", "pay", "wage"),
    "pay": ("salary", "wage"),
    "wage": ("salary", "pay"),
    "unit": ("quantity", "qty", "units"),
    "cost": ("cost", "price"),
    "price": ("price", "cost"),
    "spend": ("amount", "cost", "spend"),
    "spent": ("amount", "cost", "spend"),
    "response": ("duration", "latency"),
    "took": ("duration", "latency"),
    "mark": ("score", "grade"),
    "result": ("score",),
    "old": ("age",),
    "charge": ("price",),
    "money": ("revenue", "amount", "income", "sales"),
    "value": ("amount", "revenue", "value"),
    "worth": ("amount", "revenue", "value"),
}
# comparison words before a number: the filter they make
COMPARISONS: dict[str, str] = {
    "over": ">",
    "above": ">",
    "after": ">",
    "exceeding": ">",
    "under": "<",
    "below": "<",
    "before": "<",
}
COMPARISON_PAIRS: dict[tuple[str, str], str] = {
    ("more", "than"): ">",
    ("greater", "than"): ">",
    ("higher", "than"): ">",
    ("larger", "than"): ">",
    ("longer", "than"): ">",
    ("bigger", "than"): ">",
    ("older", "than"): ">",
    ("less", "than"): "<",
    ("fewer", "than"): "<",
    ("lower", "than"): "<",
    ("smaller", "than"): "<",
    ("shorter", "than"): "<",
    ("younger", "than"): "<",
    ("at", "least"): ">=",
    ("at", "most"): "<=",
}
DISTINCT_WORDS = frozenset({"different", "distinct", "unique"})
SHARE_WORDS = frozenset(
    {"share", "percentage", "percent", "proportion", "fraction", "%", "mix", "slice"}
)
# words that ask for a count of rows, like "how many"
COUNT_WORDS = frozenset({"count", "headcount", "tally"})
# words that ask for the groups in order, like "top" without a number
RANK_WORDS = frozenset({"rank", "ranked", "ranking", "sort", "sorted"})
COMPARE_WORDS = frozenset({"compare", "compared", "comparison", "versus", "vs", "against"})
GRAIN_WORDS: dict[str, str] = {
    "month": "month",
    "monthly": "month",
    "quarter": "quarter",
    "quarterly": "quarter",
    "year": "year",
    "yearly": "year",
    "annual": "year",
    "annually": "year",
    "week": "week",
    "weekly": "week",
    "day": "day",
    "daily": "day",
}
# questions no query answers exactly: causes, forecasts, advice
UNANSWERABLE = frozenset(
    {"why", "predict", "forecast", "will", "should", "recommend", "expect", "future", "next"}
)
NUMBER_WORDS: dict[str, int] = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "twenty": 20,
}
MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_IRREGULAR = {"people": "person", "children": "child", "men": "man", "women": "woman"}
_KEEP = ("ss", "us", "is", "ics", "ous")


def singular(word: str) -> str:
    """The singular of an English plural, conservatively: "regions" → "region",
    "categories" → "category", "boxes" → "box"; "status", "sales tax" stay."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or not word.endswith("s") or word.endswith(_KEEP):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("oes"):  # "goes", "does", "potatoes"
        return word[:-2]
    if word.endswith("uses") and word[:-2].endswith(("tus", "bus", "rus", "nus", "pus")):
        return word[:-2]  # "statuses", "bonuses"
    if word.endswith(("sses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    return word[:-1]


def words(text: str) -> list[str]:
    """The words of `text`, lower case, singular: "Unit Price" → ["unit", "price"]."""
    spaced = _CAMEL.sub(" ", text).replace("_", " ").lower()
    return [singular(w.removesuffix("'s")) for w in _WORD.findall(spaced)]


def stem(word: str) -> str:
    """A word without its commonest endings: "cancellations" and "cancelled" share
    "cancell", "warnings" and "warn" share "warn"."""
    for ending in ("ations", "ation", "ings", "ing", "ed", "s"):
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            return word[: -len(ending)]
    return word


def as_number(word: str) -> float | None:
    """A word that is a number ("100,000", "2.5", "twelve" is not), else None."""
    try:
        return float(word.replace(",", ""))
    except ValueError:
        return None
