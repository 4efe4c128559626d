"""The evaluation set and its grading: every gold computes, and grading reads answers right."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from sheetstream.evaluation import blind, heldout, questions
from sheetstream.evaluation.checks import problems
from sheetstream.evaluation.grade import grade
from sheetstream.evaluation.questions import (
    CATEGORIES,
    QUESTIONS,
    Data,
    Gold,
    Minimums,
    Question,
)


def test_the_set_covers_every_category_over_eight_workbooks(tmp_path: Path) -> None:
    data = Data.build(tmp_path)
    counts = Counter(q.category for q in QUESTIONS)
    assert len(QUESTIONS) >= 150 and set(counts) == set(CATEGORIES)
    assert len({q.workbook for q in QUESTIONS}) >= 8
    assert counts["decline"] >= 15
    for question in QUESTIONS:
        if question.gold is None:
            assert question.category == "decline"
            continue
        gold = question.gold(data)
        assert gold.values, question.text  # every answerable question has a figure to state


@pytest.mark.parametrize(
    ("asked", "minimums", "earlier"),
    [
        (questions.QUESTIONS, questions.MINIMUMS, ()),
        (heldout.HELDOUT, heldout.MINIMUMS, questions.QUESTIONS),
        (blind.BLIND, blind.MINIMUMS, questions.QUESTIONS),
    ],
    ids=["main", "heldout", "blind"],
)
def test_each_set_passes_its_checks(
    tmp_path: Path,
    asked: tuple[Question, ...],
    minimums: Minimums,
    earlier: tuple[Question, ...],
) -> None:
    data = Data.build(tmp_path)
    found, golds = problems(asked, data, set(data.names()), minimums, earlier)
    assert found == [] and len(golds) == len(asked)


def test_grading() -> None:
    gold = Gold(values=(1234.5, 12.0), labels=("North",))
    assert grade("North has 1,234.5 in 12 rows.", gold).outcome == "exact"
    assert grade("North has 1,234.50 in 12 rows.", gold).outcome == "exact"
    wrong = grade("North has 1,235 in 12 rows.", gold)
    assert wrong.outcome == "wrong" and wrong.missing == ("1234.5",)
    assert grade("South has 1,234.5 in 12 rows.", gold).missing == ("North",)
    assert grade("I can't answer that exactly from x: …", gold).outcome == "missed"
    # a question that should be declined: stating a figure is wrong, declining right
    assert grade("I can't answer that exactly from x", None).outcome == "declined"
    assert grade("It will be 42 next year.", None).outcome == "wrong"
    assert grade("Sales were best in 2021.", None).outcome == "declined"  # a year is no figure
