"""The workbook index behind `WorkbookService`: in memory without storage; in the database
with it, shared by services on one data dir (as the nodes of a fleet are), and filled at
start-up with the workbooks on disk it does not know (an upgraded install keeps them)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from sheetstream.errors import WorkbookNotFound
from sheetstream.settings import Settings
from sheetstream.storage.sqlite import SQLiteStorage
from sheetstream.workbooks.catalog import WorkbookCatalog, new_workbook_id
from sheetstream.workbooks.service import WorkbookService


def put_workbook(data_dir: Path, owner: str = "", with_record: bool = True) -> str:
    """A workbook's folder as an upload leaves it (the tables are not real: none is queried)."""
    catalog = WorkbookCatalog(data_dir / "workbooks")
    workbook_id = new_workbook_id()
    folder = catalog.create(workbook_id)
    (folder / "original").write_bytes(b"PK" + b"\0" * 98)
    (folder / "tables.duckdb").write_bytes(b"\0" * 400)
    if with_record:
        catalog.write(
            {
                "workbook_id": workbook_id,
                "owner": owner,
                "filename": "old.xlsx",
                "format": "xlsx",
                "size_bytes": 100,
                "uploaded_at": time.time(),
                "warnings": [],
                "sheets": [{"name": "Sales", "rows": 2, "columns": [{"name": "a"}]}],
            }
        )
    return workbook_id


def settings(tmp_path: Path) -> Settings:
    return Settings(model="synthetic", data_dir=tmp_path / "data")


Node = Callable[[], Awaitable[WorkbookService]]


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    """Makes services on one data dir and one SQLite database, as nodes sharing both."""
    stores: list[SQLiteStorage] = []
    services: list[WorkbookService] = []

    async def make() -> WorkbookService:
        store = SQLiteStorage(f"sqlite:///{tmp_path / 'index.db'}")
        await store.connect(interrupt_streaming=False)
        stores.append(store)
        service = WorkbookService(settings(tmp_path), store)
        services.append(service)
        await service.start()
        return service

    yield make
    for service in services:
        service.close()
    for store in stores:
        await store.disconnect()


async def test_without_storage_the_folders_are_the_index(tmp_path: Path) -> None:
    mine = put_workbook(tmp_path / "data", owner="alice")
    put_workbook(tmp_path / "data", with_record=False)  # a broken upload: left alone
    service = WorkbookService(settings(tmp_path))
    await service.start()
    try:
        entry = service.find(mine, "alice")
        assert entry is not None and entry.stored_bytes > 500
        with pytest.raises(WorkbookNotFound):
            service.find(mine, "bob")
        with pytest.raises(WorkbookNotFound):
            service.find(new_workbook_id())  # nothing else to ask: not found at once
        assert [w["workbook_id"] for w in await service.list()] == [mine]
        assert await service.usage("alice") == (1, entry.stored_bytes)
        assert (await service.get(mine, "alice"))["filename"] == "old.xlsx"
        await service.delete(mine, "alice")
        with pytest.raises(WorkbookNotFound):
            service.find(mine)
        assert not (tmp_path / "data" / "workbooks" / mine).exists()
    finally:
        service.close()


async def test_an_upgraded_install_indexes_its_workbooks_once(tmp_path: Path, node: Node) -> None:
    old = [put_workbook(tmp_path / "data", owner="alice") for _ in range(3)]
    broken = put_workbook(tmp_path / "data", with_record=False)
    first = await node()
    listed = await first.list("alice")
    assert sorted(w["workbook_id"] for w in listed) == sorted(old)
    assert (await first.usage("alice"))[0] == 3
    assert await first.list("") == []  # the folder without a record is not a workbook
    assert (tmp_path / "data" / "workbooks" / broken).is_dir()  # and is left alone
    second = await node()  # a second start adds nothing twice
    assert len(await second.list(None)) == 3


async def test_nodes_share_the_index_and_a_delete_is_seen_at_once(
    tmp_path: Path, node: Node
) -> None:
    a = await node()
    b = await node()
    workbook_id = put_workbook(tmp_path / "data", owner="alice")
    entry = a.catalog._entry(a.catalog.read(workbook_id) or {})
    assert await a.index.add_workbook(entry)  # as an upload through A ends
    assert b.find(workbook_id, "alice") is None  # B has not seen it: only the database knows
    assert (await b.get(workbook_id, "alice"))["workbook_id"] == workbook_id
    assert b.find(workbook_id, "alice") == entry  # seen now
    with pytest.raises(WorkbookNotFound):
        b.find(workbook_id, "bob")  # and known to be Alice's
    with pytest.raises(WorkbookNotFound):
        b.find("wb_x")  # not an id at all
    await a.get(workbook_id)
    await b.delete(workbook_id, "alice")
    with pytest.raises(WorkbookNotFound):
        await a.get(workbook_id)  # A had it cached; the database says it is gone
    assert a.find(workbook_id) is None
    assert await a.usage("alice") == (0, 0)
    with pytest.raises(WorkbookNotFound):
        await a.delete(workbook_id, "alice")


async def test_a_folder_whose_record_went_while_starting_is_not_indexed(
    tmp_path: Path, node: Node
) -> None:
    """A delete on another node removes the record before the entry: a starting node that
    read the record just before must not bring the workbook back."""
    workbook_id = put_workbook(tmp_path / "data", owner="alice")
    real_scan = WorkbookCatalog.scan

    def scan_then_lose_the_record(catalog: WorkbookCatalog, skip: Any = ()) -> Any:
        found = real_scan(catalog, skip)
        catalog.forget_record(workbook_id)
        return found

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(WorkbookCatalog, "scan", scan_then_lose_the_record)
        service = await node()
    assert await service.list(None) == []
