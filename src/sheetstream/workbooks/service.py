"""Uploading, describing, querying and deleting workbooks: the steps in order, no HTTP.

Which workbooks exist, whose they are and what they take is the index's: the storage's (the
database every node of a fleet shares) when the service is given one, else `MemoryIndex`. The
files (the original, the tables, the profile in `workbook.json`) are in the data dir, which a
fleet shares too. Each node remembers the entries it has seen (`known`), for the chat's
synchronous check (`find`); everything else asks the index (`locate`), so a workbook deleted
on one node is gone on all of them at once.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sheetstream.access import visible
from sheetstream.errors import Overloaded, RateLimited, SheetstreamError, WorkbookNotFound
from sheetstream.gate import Gate
from sheetstream.settings import Settings
from sheetstream.storage.base import Storage, WorkbookIndex
from sheetstream.workbooks.catalog import (
    Entry,
    MemoryIndex,
    WorkbookCatalog,
    is_workbook_id,
    new_workbook_id,
)
from sheetstream.workbooks.inspect import InspectLimits, clean_filename, sniff
from sheetstream.workbooks.parse import ParseLimits
from sheetstream.workbooks.parse_pool import ParsePool
from sheetstream.workbooks.query import QueryLimits, QueryResult, run_query
from sheetstream.workbooks.receive import receive_file

log = logging.getLogger(__name__)

KNOWN_ENTRIES = 10_000  # entries a node remembers for `find`, the least recently used dropped


class WorkbookService:
    def __init__(self, settings: Settings, storage: Storage | None = None) -> None:
        self.catalog = WorkbookCatalog(settings.data_dir / "workbooks")
        # without storage the index is this process's alone, and complete: `find` trusts it
        self.memory: MemoryIndex | None = None
        self.index: WorkbookIndex
        if storage is None:
            self.index = self.memory = MemoryIndex()
        else:
            self.index = storage
        self.known: OrderedDict[str, Entry] = OrderedDict()  # of the index, seen on this node
        self.max_bytes = settings.workbook_max_bytes
        self.inspect_limits = InspectLimits(
            max_entries=settings.workbook_max_entries,
            max_ratio=settings.workbook_max_ratio,
            max_unzipped_bytes=settings.workbook_max_unzipped_bytes,
            max_cells_per_sheet=settings.workbook_max_cells,
        )
        self.parse_limits = ParseLimits(
            timeout_s=settings.workbook_parse_timeout_s, memory_mb=settings.parser_memory_mb()
        )
        self.query_limits = QueryLimits(
            timeout_s=settings.query_timeout_s,
            max_rows=settings.query_max_rows,
            max_bytes=settings.query_max_bytes,
            max_cell_chars=settings.query_max_cell_chars,
            memory_mb=settings.query_memory_mb,
            threads=settings.query_threads,
        )
        self.parse_pool = ParsePool(self.parse_limits, settings.workbook_parse_warm)
        # their own threads each: a burst of uploads cannot starve queries, or the reverse
        self.parses = Gate("workbook parses", settings.workbook_parses, settings.workbook_uploads)
        self.queries = Gate(
            "SQL queries",
            settings.query_concurrency,
            settings.query_queue,
            per_client=settings.query_per_client,
        )
        self.max_uploads = settings.workbook_uploads
        self.max_uploads_per_client = settings.workbook_uploads_per_client
        self.uploading: Counter[str] = Counter()  # uploads in progress, by client
        self.quotas = settings.quotas()

    def load(self) -> dict[str, dict[str, int]]:
        """The work in progress now: uploads, and the parse and query gates' places."""
        return {
            "uploads": {"in_progress": self.uploading.total()},
            "parses": {"running": self.parses.running, "waiting": self.parses.waiting},
            "queries": {"running": self.queries.running, "waiting": self.queries.waiting},
        }

    async def start(self) -> None:
        """Index the workbooks on disk that the index does not have: all of them without
        storage, and after an upgrade those from before the database held the index."""
        self.parse_pool.start()
        indexed = {e.workbook_id for e in await self.index.list_workbooks(None)}
        added = 0
        for entry in await asyncio.to_thread(self.catalog.scan, indexed):
            if not await self.index.add_workbook(entry):
                continue  # another node indexed it meanwhile
            if self.memory is None and not await asyncio.to_thread(
                self.catalog.has_record, entry.workbook_id
            ):
                # deleted on another node while we read it (a delete removes the record
                # before the entry): take it out again
                await self.index.delete_workbook(entry.workbook_id)
            else:
                added += 1
        if added and self.memory is None:
            log.info("indexed %d workbooks found in %s", added, self.catalog.root)

    def close(self) -> None:
        self.parses.close()
        self.queries.close()
        self.parse_pool.close()

    async def upload(
        self,
        content_type: str,
        body: AsyncIterator[bytes],
        owner: str | None = None,
        client: str = "",
    ) -> dict[str, Any]:
        """Receive, check, parse and profile one upload; on any refusal nothing is kept.

        The workbook belongs to `owner` ('' on an open service). `client` (the owner, or the
        address on an open service) may have only so many uploads in progress."""
        self._admit(client)
        self.uploading[client] += 1
        try:
            self.quotas.check_workbooks(*await self.index.workbook_usage(owner or ""))
            return await self._upload(content_type, body, owner)
        finally:
            self.uploading[client] -= 1
            if not self.uploading[client]:
                del self.uploading[client]

    def _admit(self, client: str) -> None:
        if self.uploading[client] >= self.max_uploads_per_client:
            raise RateLimited(
                f"You have {self.uploading[client]} uploads in progress; wait for one to "
                "finish before sending another."
            )
        if self.uploading.total() >= self.max_uploads:
            raise Overloaded(
                f"The server is receiving {self.max_uploads} uploads already; try again in a "
                "few seconds.",
                retry_after_s=5.0,
            )
        self.parses.check()

    async def _upload(
        self, content_type: str, body: AsyncIterator[bytes], owner: str | None
    ) -> dict[str, Any]:
        workbook_id = new_workbook_id()
        folder = self.catalog.create(workbook_id)
        try:
            original = folder / "original"
            given_name = await receive_file(content_type, body, original, self.max_bytes)
            used = await self.index.workbook_usage(owner or "")
            self.quotas.check_workbooks(*used, adding_bytes=original.stat().st_size)
            filename = clean_filename(given_name)
            fmt = await asyncio.to_thread(
                sniff, original, filename, self.inspect_limits.max_entries
            )
            profile = await self.parses.run(
                self.parse_pool.parse,
                original,
                fmt,
                folder / "tables.duckdb",
                self.parse_limits,
                self.inspect_limits,
                Path(filename).stem or "data",  # "log.csv" → sheet log, not "original"
            )
            used = await self.index.workbook_usage(owner or "")
            self.quotas.check_workbooks(*used, adding_bytes=_folder_bytes(folder))
            warnings: list[str] = profile.get("package_warnings", [])
            for sheet in profile["sheets"]:
                sheet["warnings"] = _sheet_warnings(sheet, warnings)
            record = {
                "workbook_id": workbook_id,
                "owner": owner or "",
                "filename": filename,
                "format": fmt,
                "size_bytes": original.stat().st_size,
                "uploaded_at": time.time(),
                "warnings": warnings + list(profile.get("warnings", [])),
                "sheets": profile["sheets"],
                "cells": profile.get("cells"),
            }
            # the files first, then the index: what the index lists can be read
            entry = await asyncio.to_thread(self.catalog.write, record)
            await self.index.add_workbook(entry)  # False: a starting node indexed it first
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, folder, ignore_errors=True)
            raise
        self._remember(entry)
        return record

    def find(self, workbook_id: str, owner: str | None = None) -> Entry | None:
        """What this node can tell at once (the chat checks a `workbook_id` with it before
        the answer starts): raises the not-found error for an id that is not a workbook's,
        one this node knows is another owner's, or, without storage, one it does not have.
        With storage, a workbook this node has not seen is None: `locate` (which `get`
        calls) asks the database, the truth."""
        if not is_workbook_id(workbook_id):
            raise _not_found(workbook_id)
        if self.memory is not None:
            entry = self.memory.entries.get(workbook_id)
            if entry is None:
                raise _not_found(workbook_id)
        else:
            entry = self.known.get(workbook_id)
        if entry is not None and not visible(entry.owner, owner):
            raise _not_found(workbook_id)
        return entry

    async def locate(self, workbook_id: str, owner: str | None = None) -> Entry:
        """The workbook's entry, from the index; another owner's answers exactly as a
        missing one."""
        entry = await self.index.get_workbook(workbook_id) if is_workbook_id(workbook_id) else None
        if entry is None:
            self.known.pop(workbook_id, None)
            raise _not_found(workbook_id)
        self._remember(entry)
        if not visible(entry.owner, owner):
            raise _not_found(workbook_id)
        return entry

    async def get(self, workbook_id: str, owner: str | None = None) -> dict[str, Any]:
        """The workbook's whole record (its profile), read off the event loop."""
        await self.locate(workbook_id, owner)
        record = await asyncio.to_thread(self.catalog.read, workbook_id)
        if record is None:
            raise WorkbookNotFound(
                f"Workbook {workbook_id[:64]!r} can no longer be read; upload it again."
            )
        return record

    async def list(self, owner: str | None = None) -> list[dict[str, Any]]:
        """The summaries of `owner`'s workbooks (None: everyone's), oldest first."""
        return [e.summary for e in await self.index.list_workbooks(owner)]

    async def usage(self, owner: str | None = None) -> tuple[int, int]:
        """How many workbooks `owner` has, and the bytes they take."""
        return await self.index.workbook_usage(owner or "")

    async def delete(self, workbook_id: str, owner: str | None = None) -> None:
        await self.locate(workbook_id, owner)  # raises the not-found error
        # the record first, so no node indexing the folders brings it back (`start`); then
        # the index, after which no node serves it; then the rest of the files
        await asyncio.to_thread(self.catalog.forget_record, workbook_id)
        await self.index.delete_workbook(workbook_id)
        self.known.pop(workbook_id, None)
        await asyncio.to_thread(self.catalog.remove_files, workbook_id)

    async def query(
        self, workbook_id: str, sql: str, owner: str | None = None, client: str = ""
    ) -> QueryResult:
        """Run `sql` on the workbook as one of `client`'s queries (the owner, or the address
        on an open service), who may have only QUERY_PER_CLIENT running or waiting."""
        await self.locate(workbook_id, owner)
        tables = self.catalog.tables(workbook_id)
        if tables is None:
            raise SheetstreamError("workbook tables missing")
        return await self.queries.run_for(client, run_query, tables, sql, self.query_limits)

    def _remember(self, entry: Entry) -> None:
        if self.memory is not None:
            return  # the index itself is at hand
        self.known[entry.workbook_id] = entry
        self.known.move_to_end(entry.workbook_id)
        while len(self.known) > KNOWN_ENTRIES:
            self.known.popitem(last=False)


def _not_found(workbook_id: str) -> WorkbookNotFound:
    return WorkbookNotFound(
        f"Workbook {workbook_id[:64]!r} not found; upload it with POST /api/workbooks."
    )


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def _sheet_warnings(sheet: dict[str, Any], warnings: list[str]) -> list[str]:
    """The package warnings about this table's sheet (by its number), and what parsing saw."""
    number = sheet.get("sheet_number", 1)
    own = [
        w for w in warnings if w.startswith(f"Sheet {number} ") or w.startswith(f"Sheet {number}'")
    ]
    if sheet.get("hidden"):
        own.append("This sheet is hidden in the workbook.")
    own += sheet.pop("notes", [])
    if not sheet.get("rows") and sheet.get("layout") != "cells only":
        own.append("This sheet has no data rows.")
    return own
