"""`sheetstream eval`: the evaluation questions through a real server, graded.

It writes the evaluation workbooks, starts `sheetstream serve` on a free loopback port with
the default settings (the embedded model unless SHEETSTREAM_MODEL says otherwise), uploads
each workbook, asks every question on a session of its own over the chat socket, and grades
the answer it streamed against the gold computed from the rows. It prints accuracy per
category, the numbers grounding found in no data, the median answer time and time to first
token; `--output` writes every answer as JSON.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from sheetstream.bench.servers import ServerProcess, free_port
from sheetstream.client import SheetstreamClient
from sheetstream.evaluation.grade import Grade, grade
from sheetstream.evaluation.questions import CATEGORIES, QUESTIONS, Data, Question

HOST = "127.0.0.1"
ANSWER_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class Asked:
    """One question as the server answered it, and its grade."""

    workbook: str
    question: str
    category: str
    answer: str
    outcome: str
    missing: tuple[str, ...]
    invented: tuple[str, ...]  # numbers the answer states that grounding found in no data
    queries: tuple[str, ...]
    answer_s: float
    first_token_s: float | None


class EvalServer(ServerProcess):
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.log_path = data_dir / "server.log"
        env = dict(os.environ)
        env.update(
            {
                "SHEETSTREAM_HOST": HOST,
                "SHEETSTREAM_PORT": str(self.port),
                "SHEETSTREAM_DATA_DIR": str(data_dir),
                "SHEETSTREAM_DATABASE_URL": "",
                "SHEETSTREAM_LOG_LEVEL": "warning",
                "SHEETSTREAM_MESSAGES_PER_MINUTE": "0",
            }
        )
        self._spawn([sys.executable, "-m", "sheetstream", "serve"], env)


def upload(server: EvalServer, path: Path) -> str:
    with path.open("rb") as file:
        response = httpx.post(
            server.http_url("/api/workbooks"), files={"file": (path.name, file)}, timeout=120.0
        )
    response.raise_for_status()
    workbook_id: str = response.json()["workbook_id"]
    return workbook_id


async def ask(url: str, question: Question, workbook_id: str, data: Data) -> Asked:
    async with SheetstreamClient.connect(url) as client:
        started = time.perf_counter()
        first: float | None = None
        request_id = await client.chat(question.text, workbook_id=workbook_id)
        chunks: list[str] = []
        end: dict[str, Any] = {}
        queries: list[str] = []
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            async for frame in client.follow(request_id):
                kind = frame.get("type")
                if kind == "chunk":
                    first = first if first is not None else time.perf_counter() - started
                    chunks.append(frame["text"])
                elif kind == "tool":
                    queries.append(str(frame.get("query", "")))
                elif kind == "end":
                    end = frame
        elapsed = time.perf_counter() - started
    text = "".join(chunks)
    result: Grade = grade(text, question.gold(data) if question.gold else None)
    not_found = end.get("grounding", {}).get("not_found", [])
    return Asked(
        workbook=question.workbook,
        question=question.text,
        category=question.category,
        answer=text,
        outcome=result.outcome,
        missing=result.missing,
        invented=tuple(str(n.get("text")) for n in not_found),
        queries=tuple(queries),
        answer_s=elapsed,
        first_token_s=first,
    )


async def ask_all(
    server: EvalServer, questions: Sequence[Question], ids: dict[str, str], data: Data
) -> list[Asked]:
    url = f"ws://{HOST}:{server.port}/ws/chat"
    asked = []
    for number, question in enumerate(questions, start=1):
        asked.append(await ask(url, question, ids[question.workbook], data))
        if number % 25 == 0:
            print(f"[eval] {number}/{len(questions)} asked", file=sys.stderr, flush=True)
    return asked


def table(asked: Sequence[Asked]) -> str:
    """Accuracy per category, then the whole set."""
    head = (
        f"{'category':<10} {'asked':>5} {'answered':>8} {'exact':>5} {'exact/answered':>14} "
        f"{'exact/all':>9} {'declined':>8} {'wrong':>5} {'invented':>8}"
    )
    lines = [head, "-" * len(head)]
    for category in (*CATEGORIES, "all"):
        rows = [a for a in asked if category in ("all", a.category)]
        if not rows:
            continue
        counts = Counter(a.outcome for a in rows)
        answered = counts["exact"] + counts["wrong"]
        answerable = sum(1 for a in rows if a.category != "decline")
        lines.append(
            f"{category:<10} {len(rows):>5} {answered:>8} {counts['exact']:>5} "
            f"{_percent(counts['exact'], answered):>14} "
            f"{_percent(counts['exact'], answerable):>9} "
            f"{counts['declined'] + counts['missed']:>8} {counts['wrong']:>5} "
            f"{sum(len(a.invented) for a in rows):>8}"
        )
    return "\n".join(lines)


def _percent(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def summary(asked: Sequence[Asked]) -> dict[str, Any]:
    gold = [a for a in asked if a.category != "decline"]
    answered = [a for a in asked if a.outcome in {"exact", "wrong"}]
    exact = [a for a in asked if a.outcome == "exact"]
    firsts = [a.first_token_s for a in asked if a.first_token_s is not None]
    return {
        "questions": len(asked),
        "with_an_answer": len(gold),
        "answered": len(answered),
        "exact": len(exact),
        "exact_of_answered": round(len(exact) / max(1, len(answered)), 4),
        "exact_of_answerable": round(
            sum(1 for a in gold if a.outcome == "exact") / max(1, len(gold)), 4
        ),
        "declines_right": sum(
            1 for a in asked if a.category == "decline" and a.outcome == "declined"
        ),
        "invented_numbers": sum(len(a.invented) for a in asked),
        "median_answer_ms": round(statistics.median(a.answer_s for a in asked) * 1000, 1),
        "median_first_token_ms": round(statistics.median(firsts) * 1000, 1) if firsts else None,
    }


def question_set(name: str) -> tuple[Question, ...]:
    """ "main" (the set the planner was written against), "heldout" (written apart from
    it, then used to improve it), "blind" (written last, never tuned on), or "all"."""
    from sheetstream.evaluation.blind import BLIND
    from sheetstream.evaluation.heldout import HELDOUT

    sets = {
        "main": QUESTIONS,
        "heldout": HELDOUT,
        "blind": BLIND,
        "all": QUESTIONS + HELDOUT + BLIND,
    }
    return sets[name]


def main(output: str | None = None, categories: Sequence[str] = (), which: str = "main") -> int:
    chosen = question_set(which)
    questions = [q for q in chosen if not categories or q.category in categories]
    if not questions:
        print(f"sheetstream eval: no questions in {', '.join(categories)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="sheetstream-eval-") as scratch:
        root = Path(scratch)
        (root / "server").mkdir()
        data = Data.build(root / "workbooks")
        server = EvalServer(root / "server")
        try:
            server.wait_ready(180.0)  # the embedded model loads first
            paths = {q.workbook: data.path(q.workbook) for q in questions}
            ids = {name: upload(server, path) for name, path in paths.items()}
            asked = asyncio.run(ask_all(server, questions, ids, data))
        finally:
            server.stop()
    print(table(asked))
    figures = summary(asked)
    print(
        f"\nexact on the questions answered: {figures['exact_of_answered']:.1%}; "
        f"exact on all that have an answer: {figures['exact_of_answerable']:.1%}; "
        f"numbers found in no data: {figures['invented_numbers']}; "
        f"median answer {figures['median_answer_ms']} ms, "
        f"first token {figures['median_first_token_ms']} ms"
    )
    if output:
        report = {"summary": figures, "answers": [asdict(a) for a in asked]}
        Path(output).write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    return 0
