"""What every evaluation question set must pass, and the summary `python -m` prints of one.

A set passes when every gold computes on freshly built workbooks, every question names a
known category and workbook, a gold is None exactly for the questions to decline and has
values otherwise, no phrasing repeats (case and punctuation ignored), each category and the
whole set hold at least their minimums, and every workbook is asked about. A set written
after others must also be new: none of its questions is one of theirs, or one of theirs with
its words reordered.
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from sheetstream.evaluation.questions import CATEGORIES, Data, Gold, Minimums, Question

_WORD = re.compile(r"[a-z0-9%]+")


def words(text: str) -> frozenset[str]:
    """A question's words, case and punctuation ignored."""
    return frozenset(_WORD.findall(text.casefold()))


def normal(text: str) -> str:
    """A question's words in order, case and punctuation ignored: what counts as "the same"."""
    return " ".join(_WORD.findall(text.casefold()))


def problems(
    questions: Sequence[Question],
    data: Data,
    workbooks: set[str],
    minimums: Minimums,
    earlier: Sequence[Question] = (),
) -> tuple[list[str], list[tuple[Question, Gold | None]]]:
    """What is wrong with the set, and each question with its gold as computed."""
    found: list[str] = []
    golds: list[tuple[Question, Gold | None]] = []
    for question in questions:
        try:
            golds.append((question, question.gold and question.gold(data)))
        except (KeyError, TypeError, ValueError) as error:
            found.append(f"gold failed for {question.text!r}: {error!r}")
    for question, gold in golds:
        if question.category not in CATEGORIES:
            found.append(f"unknown category: {question}")
        if question.workbook not in workbooks:
            found.append(f"unknown workbook: {question}")
        if (gold is None) != (question.category == "decline"):
            found.append(f"gold must be None exactly for declines: {question.text!r}")
        if gold is not None and not gold.values:
            found.append(f"gold without values: {question.text!r}")
    texts = Counter(normal(question.text) for question in questions)
    found += [f"asked twice: {text!r}" for text, seen in texts.items() if seen > 1]
    first = {normal(question.text) for question in earlier}
    first_words = {words(question.text): question.text for question in earlier}
    for question in questions:
        if normal(question.text) in first:
            found.append(f"already asked in an earlier set: {question.text!r}")
        elif words(question.text) in first_words:
            found.append(
                f"an earlier question's words reordered: {question.text!r}"
                f" ~ {first_words[words(question.text)]!r}"
            )
    counts = Counter(question.category for question in questions)
    for category in CATEGORIES:
        least = minimums.categories.get(category, minimums.per_category)
        if counts[category] < least:
            found.append(f"only {counts[category]} {category} questions")
    used = {question.workbook for question in questions}
    found += [f"no questions on {name}" for name in sorted(workbooks - used)]
    if len(questions) < minimums.whole_set:
        found.append(f"only {len(questions)} questions")
    return found, golds


def main(
    name: str, questions: Sequence[Question], minimums: Minimums, earlier: Sequence[Question] = ()
) -> None:
    """Check the set on freshly built workbooks and print a summary; exit 1 on a problem."""
    with tempfile.TemporaryDirectory() as directory:
        data = Data.build(Path(directory))
        workbooks = {question.workbook for question in questions} | set(data.names())
        found, golds = problems(questions, data, workbooks, minimums, earlier)
    counts = Counter(question.category for question in questions)
    used = {question.workbook for question in questions}
    print(f"{len(questions)} {name} questions on {len(used)} workbooks")
    for category in CATEGORIES:
        print(f"  {category:<9} {counts[category]:>3}")
    if earlier:
        nearest = sorted(
            (
                (_overlap(words(question.text), words(known.text)), question.text, known.text)
                for question in questions
                for known in earlier
                if question.workbook == known.workbook
            ),
            reverse=True,
        )
        print("\nclosest to an earlier question (share of words in common):")
        for share, text, known in nearest[:5]:
            print(f"  {share:.2f}  {text!r} ~ {known!r}")
    for category in CATEGORIES:
        print(f"\n{category}:")
        samples = [(question, gold) for question, gold in golds if question.category == category]
        for question, gold in samples[:3]:
            print(f"  [{question.workbook}] {question.text}")
            print(f"      {gold}")
    if found:
        print("\nPROBLEMS:", *found, sep="\n  ")
        raise SystemExit(1)
    print("\nevery gold computed; the set meets its minimums and repeats no question")


def _overlap(first: frozenset[str], second: frozenset[str]) -> float:
    return len(first & second) / len(first | second)
