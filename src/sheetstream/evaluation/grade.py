"""Grading one answer against its gold: exact, wrong, declined (rightly) or missed.

Pure logic. An answer is exact when it states every gold value (to the decimals the gold
has, give or take one in the last digit) and names every gold label. A question whose gold
is None should be declined: stating no figure is right, stating one is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from sheetstream.evaluation.questions import Gold
from sheetstream.grounding import StatedNumber, extract_numbers

DECLINE_MARK = "I can't answer that exactly"


@dataclass(frozen=True, slots=True)
class Grade:
    outcome: str  # "exact", "wrong", "declined" (and right to), "missed" (declined, had gold)
    missing: tuple[str, ...] = ()  # the gold values and labels the answer did not state


def grade(answer: str, gold: Gold | None) -> Grade:
    declined = DECLINE_MARK in answer
    if gold is None:
        if declined:
            return Grade("declined")
        stated = [n for n in extract_numbers(answer) if not n.likely_year]
        return Grade("declined") if not stated else Grade("wrong", ("a figure, unasked",))
    if declined:
        return Grade("missed")
    stated = extract_numbers(answer)
    missing = [f"{v:g}" for v in gold.values if not any(_same(n, v) for n in stated)]
    lowered = answer.lower()
    missing += [label for label in gold.labels if label.lower() not in lowered]
    return Grade("wrong", tuple(missing)) if missing else Grade("exact")


def _same(stated: StatedNumber, gold: float) -> bool:
    """`stated` is `gold` as written to the decimals of either, one last digit apart at most."""
    value = stated.value
    decimals = max(stated.decimals, _decimals(gold))
    step = 10.0**-decimals
    return abs(value - gold) <= step * 1.01


def _decimals(value: float) -> int:
    text = f"{value:.10f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0
