"""What every `Storage` backend must do, written against the protocol only.

The backends come from `conftest.py`; the SQLite-only checks at the bottom look at the file,
and PostgreSQL's own are in `test_postgres_storage.py`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sheetstream.errors import NotFound, StorageError
from sheetstream.storage import create_storage
from sheetstream.storage.base import MessageRecord, Storage, WorkbookEntry
from sheetstream.storage.sqlite import MIGRATIONS, SQLiteStorage

if TYPE_CHECKING:
    from conftest import StoreFactory

T0 = 1_750_000_000.123456


def make_record(n: int, session_id: str = "s1", **overrides: object) -> MessageRecord:
    record = MessageRecord(
        stream_id=f"{session_id}-stream-{n}",
        session_id=session_id,
        request_id=f"req-{n}",
        question=f"question {n}?",
        mode="chat",
        created_at=T0 + n,
    )
    return dataclasses.replace(record, **overrides)  # type: ignore[arg-type]


def finished(record: MessageRecord, **overrides: object) -> MessageRecord:
    done = dataclasses.replace(
        record,
        answer=f"answer to {record.question}",
        status="complete",
        partial=False,
        error_code=None,
        answer_tokens=42,
        chunks=7,
        first_token_ms=12.5,
        duration_ms=987.25,
        workbook_id="wb-1",
    )
    return dataclasses.replace(done, **overrides)  # type: ignore[arg-type]


async def test_ping(storage: Storage) -> None:
    assert await storage.ping() is True


async def test_added_message_is_listed_as_streaming(storage: Storage) -> None:
    await storage.ensure_session("s1", T0)
    record = make_record(1)
    await storage.add_message(record)
    assert await storage.list_messages("s1") == [record]


async def test_finished_message_returns_every_field(storage: Storage) -> None:
    await storage.ensure_session("s1", T0)
    record = make_record(1, request_id=None)
    await storage.add_message(record)
    done = finished(record)
    await storage.finish_message(done)
    [got] = await storage.list_messages("s1")
    assert got == done
    assert got.to_json() == done.to_json()
    assert isinstance(got.partial, bool)


async def test_finished_with_error_and_nulls(storage: Storage) -> None:
    await storage.ensure_session("s1", T0)
    record = make_record(1, workbook_id="wb-9")
    await storage.add_message(record)
    done = finished(
        record,
        answer="half an ans",
        status="error",
        partial=True,
        error_code="llm_timeout",
        first_token_ms=None,
        duration_ms=None,
        workbook_id=None,
    )
    await storage.finish_message(done)
    assert await storage.list_messages("s1") == [done]


async def test_finish_unknown_message_raises(storage: Storage) -> None:
    await storage.ensure_session("s1", T0)
    with pytest.raises(StorageError):
        await storage.finish_message(finished(make_record(1)))


async def test_add_message_for_unknown_session_raises(storage: Storage) -> None:
    with pytest.raises(StorageError):
        await storage.add_message(make_record(1, session_id="nobody"))


async def test_duplicate_stream_id_raises(storage: Storage) -> None:
    await storage.ensure_session("s1", T0)
    await storage.add_message(make_record(1))
    with pytest.raises(StorageError):
        await storage.add_message(make_record(1))


async def test_list_is_oldest_first_and_per_session(storage: Storage) -> None:
    await storage.ensure_session("s1", T0)
    await storage.ensure_session("s2", T0)
    # Inserted out of time order, interleaved across sessions.
    for n in (3, 1, 4, 2):
        await storage.add_message(make_record(n, "s1"))
        await storage.add_message(make_record(n + 10, "s2"))
    s1 = await storage.list_messages("s1")
    s2 = await storage.list_messages("s2")
    assert [m.stream_id for m in s1] == [f"s1-stream-{n}" for n in (1, 2, 3, 4)]
    assert [m.stream_id for m in s2] == [f"s2-stream-{n}" for n in (11, 12, 13, 14)]
    assert await storage.list_messages("unknown") == []


async def test_limit_keeps_the_latest_messages_oldest_first(storage: Storage) -> None:
    await storage.ensure_session("s1", T0)
    for n in range(10):
        await storage.add_message(make_record(n))
    got = await storage.list_messages("s1", limit=3)
    assert [m.stream_id for m in got] == ["s1-stream-7", "s1-stream-8", "s1-stream-9"]
    assert len(await storage.list_messages("s1")) == 10


async def test_ensure_session_is_idempotent(storage: Storage) -> None:
    assert await storage.session_owner("s1") is None
    assert await storage.ensure_session("s1", T0) is True
    assert await storage.ensure_session("s1", T0 + 5) is False
    assert await storage.ensure_session("s1", T0 + 10) is False
    assert await storage.session_owner("s1") is not None
    assert await storage.session_owner("s2") is None


async def test_tool_frames_round_trip(storage: Storage) -> None:
    await storage.ensure_session("s1", T0)
    record = make_record(1)
    await storage.add_message(record)
    tools = [{"type": "tool", "name": "run_sql", "query": "SELECT 1", "rows": [[1]], "n": 1.5}]
    await storage.finish_message(finished(record, tools=tools))
    (got,) = await storage.list_messages("s1")
    assert got.tools == tools and got.to_json()["tools"] == tools


async def test_sessions_belong_to_their_owner(storage: Storage) -> None:
    assert await storage.session_owner("s1") is None
    assert await storage.ensure_session("s1", T0, "alice") is True
    assert await storage.session_owner("s1") == "alice"
    assert await storage.ensure_session("s1", T0 + 1, "alice") is False
    with pytest.raises(NotFound):
        await storage.ensure_session("s1", T0 + 2, "bob")
    assert await storage.session_owner("s1") == "alice"  # untouched by bob's attempt
    assert await storage.ensure_session("s1", T0 + 3) is False  # no owner given: no check
    assert await storage.ensure_session("s2", T0) is True
    assert await storage.session_owner("s2") == ""  # made by an open service
    with pytest.raises(NotFound):
        await storage.ensure_session("s2", T0 + 1, "alice")


async def test_history_bytes_are_summed_per_owner(storage: Storage) -> None:
    """What the history quota counts: the stored size of every message of the owner's
    sessions (question, answer, tool frames, grounding), and nothing of other owners'."""
    assert await storage.history_bytes("alice") == 0
    await storage.ensure_session("a1", T0, "alice")
    await storage.ensure_session("a2", T0, "alice")
    await storage.ensure_session("b1", T0, "bob")
    records = [make_record(1, "a1"), make_record(2, "a2"), make_record(3, "b1")]
    for record in records:
        await storage.add_message(record)
    assert await storage.history_bytes("alice") == sum(r.stored_bytes() for r in records[:2])
    done = finished(records[0], tools=[{"type": "tool", "rows": [[1]]}], grounding={"found": []})
    await storage.finish_message(done)
    expected = done.stored_bytes() + records[1].stored_bytes()
    assert await storage.history_bytes("alice") == expected
    assert await storage.history_bytes("bob") == records[2].stored_bytes()
    assert await storage.history_bytes(None) == 0  # the open service's owner, ''


async def test_deleting_a_session_deletes_its_messages(storage: Storage) -> None:
    await storage.ensure_session("s1", T0, "alice")
    await storage.ensure_session("s2", T0, "alice")
    await storage.add_message(make_record(1, "s1"))
    await storage.add_message(make_record(2, "s2"))
    assert await storage.delete_session("s1") is True
    assert await storage.session_owner("s1") is None
    assert await storage.list_messages("s1") == []
    assert await storage.history_bytes("alice") == make_record(2, "s2").stored_bytes()
    assert await storage.delete_session("s1") is False
    assert await storage.ensure_session("s1", T0 + 1, "bob") is True  # the id is free again


async def test_only_sessions_without_messages_are_forgotten_as_empty(storage: Storage) -> None:
    for session_id in ("used", "empty1", "empty2"):
        await storage.ensure_session(session_id, T0, "alice")
    await storage.add_message(make_record(1, "used"))
    forgotten = await storage.forget_empty_sessions(["used", "empty1", "empty2", "absent"])
    assert forgotten == 2
    assert await storage.session_owner("used") == "alice"
    assert await storage.session_owner("empty1") is None
    assert [m.stream_id for m in await storage.list_messages("used")] == ["used-stream-1"]
    assert await storage.forget_empty_sessions([]) == 0
    await storage.ensure_session("empty3", T0, "bob")
    assert await storage.forget_empty_sessions(None) == 1  # every session without messages
    assert await storage.session_owner("empty3") is None
    assert await storage.session_owner("used") == "alice"


async def test_crash_left_streaming_becomes_interrupted(backend: StoreFactory) -> None:
    streaming = make_record(1)
    complete = make_record(2)
    cancelled = make_record(3)
    async with backend.connected() as store:
        await store.ensure_session("s1", T0)
        for record in (streaming, complete, cancelled):
            await store.add_message(record)
        await store.finish_message(finished(complete))
        await store.finish_message(finished(cancelled, status="cancelled", partial=True))
        # The process "dies" here: the first answer never finishes.
    async with backend.connected() as store:
        got = {m.stream_id: m for m in await store.list_messages("s1")}
    assert got[streaming.stream_id] == dataclasses.replace(
        streaming, status="interrupted", partial=True
    )
    assert got[complete.stream_id] == finished(complete)
    assert got[cancelled.stream_id] == finished(cancelled, status="cancelled", partial=True)


async def test_connect_without_interrupting_leaves_streaming_answers(
    backend: StoreFactory,
) -> None:
    """A process joining a store others use must not end the answers they are streaming."""
    streaming = make_record(1)
    async with backend.connected() as first:
        await first.ensure_session("s1", T0)
        await first.add_message(streaming)
        async with backend.connected(interrupt_streaming=False) as second:
            assert await second.list_messages("s1") == [streaming]
            await second.ensure_session("s2", T0)  # and it works as any handle does
            await second.add_message(make_record(2, "s2"))
        assert await first.list_messages("s1") == [streaming]
        await first.finish_message(finished(streaming))
    async with backend.connected(interrupt_streaming=False) as again:
        assert await again.list_messages("s1") == [finished(streaming)]
        assert await again.list_messages("s2") == [make_record(2, "s2")]


async def test_connect_without_interrupting_creates_the_schema(backend: StoreFactory) -> None:
    async with backend.connected(interrupt_streaming=False) as store:
        assert await store.ensure_session("s1", T0) is True
        assert await store.interrupt_messages(["s1-stream-1"]) == 0


async def test_interrupt_messages_changes_only_those_still_streaming(storage: Storage) -> None:
    await storage.ensure_session("s1", T0)
    await storage.ensure_session("s2", T0)
    mine = make_record(1, answer="so far")  # whatever answer is stored stays
    other = make_record(2)  # streaming, but not named: left alone
    done = make_record(3)
    elsewhere = make_record(4, "s2")
    for record in (mine, other, done, elsewhere):
        await storage.add_message(record)
    await storage.finish_message(finished(done))
    named = [mine.stream_id, done.stream_id, elsewhere.stream_id, mine.stream_id, "unknown"]
    assert await storage.interrupt_messages(named) == 2
    got = {m.stream_id: m for m in await storage.list_messages("s1")}
    assert got[mine.stream_id] == dataclasses.replace(mine, status="interrupted", partial=True)
    assert got[other.stream_id] == other
    assert got[done.stream_id] == finished(done)
    assert await storage.list_messages("s2") == [
        dataclasses.replace(elsewhere, status="interrupted", partial=True)
    ]
    assert await storage.interrupt_messages([mine.stream_id, elsewhere.stream_id]) == 0
    assert await storage.interrupt_messages([]) == 0
    assert await storage.history_bytes("") == sum(
        r.stored_bytes() for r in (mine, other, finished(done), elsewhere)
    )


async def test_interrupted_message_can_still_be_finished(storage: Storage) -> None:
    """An answer interrupted by a fleet's sweep may yet end on its own: its final record
    wins, as `finish_message` stores it."""
    await storage.ensure_session("s1", T0)
    record = make_record(1)
    await storage.add_message(record)
    assert await storage.interrupt_messages([record.stream_id]) == 1
    await storage.finish_message(finished(record, status="cancelled", partial=True))
    assert await storage.list_messages("s1") == [finished(record, status="cancelled", partial=True)]


async def test_data_survives_disconnect_and_connect(backend: StoreFactory) -> None:
    record = make_record(1)
    async with backend.connected() as store:
        await store.ensure_session("s1", T0)
        await store.add_message(record)
        await store.finish_message(finished(record))
    async with backend.connected() as store:
        assert await store.session_owner("s1") is not None
        assert await store.list_messages("s1") == [finished(record)]
        await store.ensure_session("s1", T0 + 1)  # still idempotent across handles
        assert len(await store.list_messages("s1")) == 1


UNICODE = (
    "Umsatz für Q3 — 上海 销售额 📈👩🏽‍💻 مرحبا עברית é (e\u0301) "
    '\'; DROP TABLE messages; -- "quoted" \\ back\\slash\n\ttabbed\r\n% _ ?'
)


async def test_unicode_and_very_long_answers_round_trip(storage: Storage) -> None:
    await storage.ensure_session("sessïon-🔑", T0)
    record = make_record(1, session_id="sessïon-🔑", question=UNICODE, workbook_id="ワーク.xlsx")
    await storage.add_message(record)
    long_answer = (UNICODE + "|" + "x" * 1000) * 1500  # ~1.6 M characters
    done = finished(record, answer=long_answer, answer_tokens=400_000)
    await storage.finish_message(done)
    [got] = await storage.list_messages("sessïon-🔑")
    assert got.question == UNICODE
    assert len(got.answer) == len(long_answer)
    assert got == done


async def test_concurrent_adds_all_land(storage: Storage) -> None:
    await storage.ensure_session("s1", T0)
    records = [make_record(n) for n in range(200)]
    await asyncio.gather(*(storage.add_message(r) for r in records))
    got = await storage.list_messages("s1")
    assert got == records


async def test_concurrent_sessions_and_finishes(storage: Storage) -> None:
    sessions = [f"s{i}" for i in range(20)]

    async def conversation(session_id: str) -> None:
        await storage.ensure_session(session_id, T0)
        for n in range(5):
            record = make_record(n, session_id)
            await storage.add_message(record)
            await storage.finish_message(finished(record))

    await asyncio.gather(*(conversation(s) for s in sessions))
    for session_id in sessions:
        got = await storage.list_messages(session_id)
        assert got == [finished(make_record(n, session_id)) for n in range(5)]


# --- the workbook index -----------------------------------------------------------------------


def make_workbook(n: int, owner: str = "alice", **overrides: object) -> WorkbookEntry:
    entry = WorkbookEntry(
        workbook_id=f"wb_{n:016d}",
        owner=owner,
        stored_bytes=1000 * n + 7,
        uploaded_at=T0 + n,
        summary={
            "workbook_id": f"wb_{n:016d}",
            "filename": f"book {n}.xlsx",
            "format": "xlsx",
            "size_bytes": 900 * n,
            "uploaded_at": T0 + n,
            "sheets": [{"name": "Sales", "rows": n, "columns": 3}],
        },
    )
    return dataclasses.replace(entry, **overrides)  # type: ignore[arg-type]


async def test_an_added_workbook_is_got_whole(storage: Storage) -> None:
    entry = make_workbook(1)
    assert await storage.get_workbook(entry.workbook_id) is None
    assert await storage.add_workbook(entry) is True
    got = await storage.get_workbook(entry.workbook_id)
    assert got == entry
    assert got is not None and isinstance(got.stored_bytes, int)
    assert isinstance(got.uploaded_at, float)


async def test_adding_a_workbook_again_keeps_the_first_entry(storage: Storage) -> None:
    entry = make_workbook(1)
    assert await storage.add_workbook(entry) is True
    again = dataclasses.replace(entry, owner="bob", stored_bytes=1)
    assert await storage.add_workbook(again) is False
    assert await storage.get_workbook(entry.workbook_id) == entry
    assert await storage.workbook_usage("bob") == (0, 0)


async def test_workbooks_are_listed_per_owner_oldest_first(storage: Storage) -> None:
    alices = [make_workbook(n) for n in (3, 1, 2)]
    bobs = [make_workbook(n, owner="bob") for n in (5, 4)]
    opens = [make_workbook(6, owner="")]
    for entry in alices + bobs + opens:
        await storage.add_workbook(entry)
    by_time = sorted(alices + bobs + opens, key=lambda e: e.uploaded_at)
    assert await storage.list_workbooks("alice") == sorted(alices, key=lambda e: e.uploaded_at)
    assert await storage.list_workbooks("bob") == sorted(bobs, key=lambda e: e.uploaded_at)
    assert await storage.list_workbooks("") == opens
    assert await storage.list_workbooks("carol") == []
    assert await storage.list_workbooks(None) == by_time


async def test_workbooks_uploaded_at_the_same_time_list_in_a_stable_order(
    storage: Storage,
) -> None:
    entries = [make_workbook(n, uploaded_at=T0) for n in (2, 3, 1)]
    for entry in entries:
        await storage.add_workbook(entry)
    first = await storage.list_workbooks("alice")
    assert first == sorted(entries, key=lambda e: e.workbook_id)
    assert await storage.list_workbooks(None) == first


async def test_workbook_usage_counts_and_sums_per_owner(storage: Storage) -> None:
    assert await storage.workbook_usage("alice") == (0, 0)
    for entry in [make_workbook(1), make_workbook(2), make_workbook(3, owner="bob")]:
        await storage.add_workbook(entry)
    assert await storage.workbook_usage("alice") == (2, 1007 + 2007)
    assert await storage.workbook_usage("bob") == (1, 3007)
    assert await storage.workbook_usage("") == (0, 0)
    big = make_workbook(4, owner="", stored_bytes=50 * 2**30)  # past 32 bits
    await storage.add_workbook(big)
    assert await storage.workbook_usage("") == (1, 50 * 2**30)


async def test_a_deleted_workbook_is_gone_everywhere(storage: Storage) -> None:
    kept, deleted = make_workbook(1), make_workbook(2)
    await storage.add_workbook(kept)
    await storage.add_workbook(deleted)
    assert await storage.delete_workbook(deleted.workbook_id) is True
    assert await storage.delete_workbook(deleted.workbook_id) is False
    assert await storage.delete_workbook("wb_never_was_one0") is False
    assert await storage.get_workbook(deleted.workbook_id) is None
    assert await storage.list_workbooks("alice") == [kept]
    assert await storage.workbook_usage("alice") == (1, kept.stored_bytes)
    assert await storage.add_workbook(deleted) is True  # its id may be indexed again


async def test_workbook_summaries_round_trip_unicode_and_nul(storage: Storage) -> None:
    summary = {
        "filename": UNICODE + ".xlsx",
        "sheets": [{"name": "nul\x00in it", "rows": 0, "columns": 0}],
        "nested": {"list": [1, 2.5, None, True, "é"], "big": 2**62},
    }
    entry = make_workbook(1, owner="ownër 🔑", summary=summary)
    await storage.add_workbook(entry)
    assert await storage.get_workbook(entry.workbook_id) == entry
    assert await storage.list_workbooks("ownër 🔑") == [entry]


async def test_the_workbook_index_survives_disconnect_and_connect(backend: StoreFactory) -> None:
    entry = make_workbook(1)
    async with backend.connected() as store:
        await store.add_workbook(entry)
    async with backend.connected(interrupt_streaming=False) as store:
        assert await store.get_workbook(entry.workbook_id) == entry
        assert await store.workbook_usage("alice") == (1, entry.stored_bytes)


async def test_two_handles_on_one_store_see_each_others_workbooks(backend: StoreFactory) -> None:
    """What a fleet relies on: an upload through one node is seen, and a delete, by another."""
    entry = make_workbook(1)
    async with (
        backend.connected(interrupt_streaming=False) as a,
        backend.connected(interrupt_streaming=False) as b,
    ):
        await a.add_workbook(entry)
        assert await b.get_workbook(entry.workbook_id) == entry
        assert await b.list_workbooks(None) == [entry]
        assert await b.add_workbook(entry) is False
        assert await b.delete_workbook(entry.workbook_id) is True
        assert await a.get_workbook(entry.workbook_id) is None
        assert await a.workbook_usage("alice") == (0, 0)


async def test_concurrent_workbook_adds_of_one_id_index_it_once(storage: Storage) -> None:
    entry = make_workbook(1)
    added = await asyncio.gather(*(storage.add_workbook(entry) for _ in range(20)))
    assert added.count(True) == 1
    assert await storage.list_workbooks(None) == [entry]


CALLS: dict[str, Callable[[Storage], Awaitable[object]]] = {
    "ping": lambda s: s.ping(),
    "ensure_session": lambda s: s.ensure_session("s1", T0),
    "session_owner": lambda s: s.session_owner("s1"),
    "add_message": lambda s: s.add_message(make_record(1)),
    "finish_message": lambda s: s.finish_message(finished(make_record(1))),
    "list_messages": lambda s: s.list_messages("s1"),
    "history_bytes": lambda s: s.history_bytes(""),
    "delete_session": lambda s: s.delete_session("s1"),
    "forget_empty_sessions": lambda s: s.forget_empty_sessions(["s1"]),
    "interrupt_messages": lambda s: s.interrupt_messages(["s1-stream-1"]),
    "add_workbook": lambda s: s.add_workbook(make_workbook(1)),
    "get_workbook": lambda s: s.get_workbook("wb_0000000000000001"),
    "list_workbooks": lambda s: s.list_workbooks(None),
    "workbook_usage": lambda s: s.workbook_usage(""),
    "delete_workbook": lambda s: s.delete_workbook("wb_0000000000000001"),
}


@pytest.mark.parametrize("method", sorted(CALLS))
async def test_methods_after_disconnect_raise(storage: Storage, method: str) -> None:
    await storage.ensure_session("s1", T0)
    await storage.disconnect()
    with pytest.raises(StorageError):
        await CALLS[method](storage)
    await storage.disconnect()  # a second disconnect is harmless


async def test_methods_before_connect_raise(backend: StoreFactory) -> None:
    store = backend.open()
    with pytest.raises(StorageError):
        await store.ping()
    await store.disconnect()


async def test_calls_queued_before_disconnect_complete(backend: StoreFactory) -> None:
    store = backend.open()
    await store.connect()
    await store.ensure_session("s1", T0)
    adds = [asyncio.ensure_future(store.add_message(make_record(n))) for n in range(50)]
    await asyncio.sleep(0)  # let every add reach the backend before the disconnect starts
    await store.disconnect()
    await asyncio.gather(*adds)
    async with backend.connected() as again:
        assert len(await again.list_messages("s1")) == 50


# --- SQLite specifics: the file on disk -------------------------------------------------------


def _pragma(path: Path, name: str) -> object:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]


async def test_sqlite_file_is_wal_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "h.db"
    store = create_storage(f"sqlite:///{path}")
    await store.connect()
    await store.disconnect()
    assert path.is_file()
    assert _pragma(path, "journal_mode") == "wal"
    assert _pragma(path, "user_version") == len(MIGRATIONS)
    # Reconnecting to a migrated file applies nothing twice.
    store = create_storage(f"sqlite:///{path}")
    await store.connect()
    assert await store.ping()
    await store.disconnect()


async def test_sqlite_migration_counts_the_bytes_of_earlier_messages(tmp_path: Path) -> None:
    """A database from before the history quota gets each message's size filled in."""
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as conn:
        for migration in MIGRATIONS[:4]:
            migration(conn)
        conn.execute("PRAGMA user_version = 4")
        conn.execute("INSERT INTO sessions VALUES ('s1', 1, 1, 'alice')")
        conn.execute(
            "INSERT INTO messages (stream_id, session_id, question, mode, created_at, answer, "
            "tools) VALUES ('st1', 's1', 'é?', 'token', 1, 'answer', '[1]')"
        )
        conn.commit()
    store = create_storage(f"sqlite:///{path}")
    await store.connect()
    try:
        assert await store.history_bytes("alice") == len("é?".encode()) + len("answer") + 3
    finally:
        await store.disconnect()


async def test_sqlite_migration_adds_an_empty_workbook_index(tmp_path: Path) -> None:
    """A database from before the workbook index keeps its history and gains the index."""
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as conn:
        for migration in MIGRATIONS[:5]:
            migration(conn)
        conn.execute("PRAGMA user_version = 5")
        conn.execute("INSERT INTO sessions VALUES ('s1', 1, 1, 'alice')")
        conn.commit()
    store = create_storage(f"sqlite:///{path}")
    await store.connect()
    try:
        assert await store.session_owner("s1") == "alice"
        assert await store.list_workbooks(None) == []
        assert await store.add_workbook(make_workbook(1)) is True
    finally:
        await store.disconnect()
    assert _pragma(path, "user_version") == len(MIGRATIONS) == 6


async def test_sqlite_relative_and_absolute_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = SQLiteStorage("sqlite:///data/rel.db")
    absolute = SQLiteStorage(f"sqlite:///{tmp_path / 'abs.db'}")
    assert relative.path == "data/rel.db"
    assert absolute.path == f"{tmp_path}/abs.db"
    for store in (relative, absolute):
        await store.connect()
        await store.disconnect()
    assert (tmp_path / "data" / "rel.db").is_file()
    assert (tmp_path / "abs.db").is_file()


async def test_sqlite_memory_url() -> None:
    store = SQLiteStorage("sqlite:///:memory:")
    await store.connect()
    await store.ensure_session("s1", T0)
    assert await store.session_owner("s1") is not None
    await store.disconnect()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite://host/x.db", "sqlite:x.db"])
def test_sqlite_bad_urls(url: str) -> None:
    with pytest.raises(ValueError, match="sqlite:///"):
        SQLiteStorage(url)


async def test_sqlite_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    store = SQLiteStorage(f"sqlite:///{path}")
    with pytest.raises(StorageError, match="newer"):
        await store.connect()
    with pytest.raises(StorageError):
        await store.ping()


async def test_sqlite_unopenable_file_raises_storage_error(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()  # a directory where the file should be
    store = SQLiteStorage(f"sqlite:///{tmp_path / 'dir.db'}")
    with pytest.raises(StorageError):
        await store.connect()


async def test_sqlite_calls_made_together_commit_together(tmp_path: Path) -> None:
    """Group commit: 100 answers stored at once take a handful of transactions, not 100."""
    store = SQLiteStorage(f"sqlite:///{tmp_path / 'g.db'}")
    await store.connect()
    statements: list[str] = []
    try:
        await store.ensure_session("s1", T0)
        assert store._conn is not None
        conn = store._conn
        await store._run(lambda c: c.set_trace_callback(statements.append))
        statements.clear()
        await asyncio.gather(*(store.add_message(make_record(n)) for n in range(100)))
        await store._run(lambda c: c.set_trace_callback(None))
        commits = sum(s == "COMMIT" for s in statements)
        # the first call goes alone, the 99 made while it ran go as one batch (and the call
        # that removes the trace is a third)
        assert commits <= 3, statements[:10]
        assert sum(s.startswith("INSERT INTO messages") for s in statements) == 100
        assert conn is store._conn
        assert len(await store.list_messages("s1")) == 100
    finally:
        await store.disconnect()


async def test_sqlite_a_failing_call_in_a_batch_undoes_only_its_own_writes(
    tmp_path: Path,
) -> None:
    store = SQLiteStorage(f"sqlite:///{tmp_path / 'f.db'}")
    await store.connect()
    try:
        await store.ensure_session("s1", T0)
        await store.add_message(make_record(1))

        def half_then_fail(c: sqlite3.Connection) -> None:
            c.execute("UPDATE messages SET answer = 'half' WHERE stream_id = 's1-stream-1'")
            raise sqlite3.IntegrityError("refused after a write")

        calls = [
            store.add_message(make_record(2)),
            store._run(half_then_fail),
            store.add_message(make_record(1)),  # a duplicate stream_id: refused by SQLite
            store.add_message(make_record(3)),
        ]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        assert outcomes[0] is None and outcomes[3] is None
        assert isinstance(outcomes[1], StorageError) and "refused after a write" in str(outcomes[1])
        assert isinstance(outcomes[2], StorageError)
        stored = {r.stream_id: r for r in await store.list_messages("s1")}
        assert sorted(stored) == ["s1-stream-1", "s1-stream-2", "s1-stream-3"]
        assert stored["s1-stream-1"].answer == ""  # the failed call's write was undone
    finally:
        await store.disconnect()


async def test_sqlite_a_failed_commit_fails_every_call_of_its_batch(tmp_path: Path) -> None:
    """When the transaction cannot commit, no call of the batch reports success."""
    store = SQLiteStorage(f"sqlite:///{tmp_path / 'c.db'}")
    await store.connect()
    try:
        await store.ensure_session("s1", T0)
        calls = [
            # holds the thread, so the calls after it wait and go together
            store._run(lambda c: time.sleep(0.05)),
            # a deferred foreign key fails at COMMIT, not at its statement
            store._run(lambda c: c.execute("PRAGMA defer_foreign_keys = ON")),
            store.add_message(make_record(1)),
            store.add_message(make_record(2, session_id="no-such-session")),
        ]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        assert outcomes[0] is None
        assert all(isinstance(o, StorageError) for o in outcomes[1:]), outcomes
        assert await store.list_messages("s1") == []
    finally:
        await store.disconnect()
