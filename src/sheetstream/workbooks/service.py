"""Uploading, describing, querying and deleting workbooks: the steps in order, no HTTP."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sheetstream.access import visible
from sheetstream.errors import Overloaded, RateLimited, SheetstreamError, WorkbookNotFound
from sheetstream.gate import Gate
from sheetstream.settings import Settings
from sheetstream.workbooks.catalog import Entry, WorkbookCatalog, new_workbook_id
from sheetstream.workbooks.inspect import InspectLimits, clean_filename, sniff
from sheetstream.workbooks.parse import ParseLimits, parse_workbook
from sheetstream.workbooks.query import QueryLimits, QueryResult, run_query
from sheetstream.workbooks.receive import receive_file


class WorkbookService:
    def __init__(self, settings: Settings) -> None:
        self.catalog = WorkbookCatalog(settings.data_dir / "workbooks")
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
        for entry in await asyncio.to_thread(self.catalog.scan):
            self.catalog.add(entry)

    def close(self) -> None:
        self.parses.close()
        self.queries.close()

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
        self.quotas.check_workbooks(*self.catalog.usage(owner or ""))
        self.uploading[client] += 1
        try:
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
            used = self.catalog.usage(owner or "")
            self.quotas.check_workbooks(*used, adding_bytes=original.stat().st_size)
            filename = clean_filename(given_name)
            fmt = await asyncio.to_thread(
                sniff, original, filename, self.inspect_limits.max_entries
            )
            profile = await self.parses.run(
                parse_workbook,
                original,
                fmt,
                folder / "tables.duckdb",
                self.parse_limits,
                self.inspect_limits,
            )
            self.quotas.check_workbooks(
                *self.catalog.usage(owner or ""), adding_bytes=_folder_bytes(folder)
            )
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, folder, ignore_errors=True)
            raise
        warnings: list[str] = profile.get("package_warnings", [])
        for number, sheet in enumerate(profile["sheets"], start=1):
            sheet["warnings"] = _sheet_warnings(number, sheet, warnings)
        record = {
            "workbook_id": workbook_id,
            "owner": owner or "",
            "filename": filename,
            "format": fmt,
            "size_bytes": original.stat().st_size,
            "uploaded_at": time.time(),
            "warnings": warnings + list(profile.get("warnings", [])),
            "sheets": profile["sheets"],
        }
        self.catalog.add(await asyncio.to_thread(self.catalog.write, record))
        return record

    def find(self, workbook_id: str, owner: str | None = None) -> Entry:
        """The workbook's index entry; another owner's answers exactly as a missing one."""
        entry = self.catalog.index.get(workbook_id)
        if entry is None or not visible(entry.owner, owner):
            raise WorkbookNotFound(
                f"Workbook {workbook_id[:64]!r} not found; upload it with POST /api/workbooks."
            )
        return entry

    async def get(self, workbook_id: str, owner: str | None = None) -> dict[str, Any]:
        """The workbook's whole record (its profile), read off the event loop."""
        self.find(workbook_id, owner)
        record = await asyncio.to_thread(self.catalog.read, workbook_id)
        if record is None:
            raise WorkbookNotFound(
                f"Workbook {workbook_id[:64]!r} can no longer be read; upload it again."
            )
        return record

    def list(self, owner: str | None = None) -> list[dict[str, Any]]:
        return [e.summary for e in self.catalog.entries() if visible(e.owner, owner)]

    async def delete(self, workbook_id: str, owner: str | None = None) -> None:
        self.find(workbook_id, owner)  # raises the not-found error
        self.catalog.forget(workbook_id)
        await asyncio.to_thread(self.catalog.remove_files, workbook_id)

    async def query(
        self, workbook_id: str, sql: str, owner: str | None = None, client: str = ""
    ) -> QueryResult:
        """Run `sql` on the workbook as one of `client`'s queries (the owner, or the address
        on an open service), who may have only QUERY_PER_CLIENT running or waiting."""
        self.find(workbook_id, owner)
        tables = self.catalog.tables(workbook_id)
        if tables is None:
            raise SheetstreamError("workbook tables missing")
        return await self.queries.run_for(client, run_query, tables, sql, self.query_limits)


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def _sheet_warnings(number: int, sheet: dict[str, Any], warnings: list[str]) -> list[str]:
    """The package warnings about this sheet (by its part number), and what parsing saw."""
    own = [
        w for w in warnings if w.startswith(f"Sheet {number} ") or w.startswith(f"Sheet {number}'")
    ]
    if sheet.get("hidden"):
        own.append("This sheet is hidden in the workbook.")
    if not sheet.get("rows"):
        own.append("This sheet has no data rows.")
    return own
