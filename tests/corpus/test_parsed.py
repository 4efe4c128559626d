"""Every corpus file through sheetstream's parse (warm, capped parse workers), held to the
reference reader: accepted, every number a number in the cell view at its address and in the
table covering it unless its column is mixed, and each sheet laid out as a person sees it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sheetstream.workbooks.parse_pool import ParsePool
from tests.corpus.compare import ENTRIES, LIMITS, compare


@pytest.fixture(scope="module")
def pool() -> Iterator[ParsePool]:
    warm = ParsePool(LIMITS, 2)
    warm.start()
    yield warm
    warm.close()


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_the_file_loses_no_number_and_is_laid_out_as_a_person_sees_it(
    pool: ParsePool, name: str, tmp_path: Path
) -> None:
    outcome = compare(pool, name, tmp_path)
    assert outcome.profile["sheets"], "accepted, with its sheets"
    assert outcome.lost == []
    assert outcome.layouts == []
    assert outcome.in_cells == outcome.numbers
    assert outcome.in_tables + outcome.mixed + outcome.cells_only == outcome.numbers


def test_the_corpus_holds_numbers_in_tables() -> None:
    """The comparison is not vacuous: the reference reader finds numbers in most files."""
    with_numbers = [n for n in ENTRIES if "reference_reader" not in ENTRIES[n]]
    assert len(with_numbers) >= 50
