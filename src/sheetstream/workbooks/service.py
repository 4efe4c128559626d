"""Uploading, describing, querying and deleting workbooks: the steps in order, no HTTP."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from sheetstream.access import visible
from sheetstream.errors import Overloaded, RateLimited, SheetstreamError, WorkbookNotFound
from sheetstream.gate import Gate
from sheetstream.settings import Settings
from sheetstream.workbooks.catalog import WorkbookCatalog, new_workbook_id
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
        self.queries = Gate("SQL queries", settings.query_concurrency, settings.query_queue)
        self.max_uploads = settings.workbook_uploads
        self.max_uploads_per_client = settings.workbook_uploads_per_client
        self.uploading: Counter[str] = Counter()  # uploads in progress, by client

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
            filename = clean_filename(given_name)
            fmt = await asyncio.to_thread(sniff, original, filename)
            profile = await self.parses.run(
                parse_workbook,
                original,
                fmt,
                folder / "tables.duckdb",
                self.parse_limits,
                self.inspect_limits,
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
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
        self.catalog.save(workbook_id, record)
        return record

    def get(self, workbook_id: str, owner: str | None = None) -> dict[str, Any]:
        """The workbook's record; another owner's answers exactly as a missing one does."""
        record = self.catalog.get(workbook_id)
        if record is None or not visible(record.get("owner", ""), owner):
            raise WorkbookNotFound(
                f"Workbook {workbook_id[:64]!r} not found; upload it with POST /api/workbooks."
            )
        return record

    def list(self, owner: str | None = None) -> list[dict[str, Any]]:
        return [_summary(w) for w in self.catalog.list() if visible(w.get("owner", ""), owner)]

    def delete(self, workbook_id: str, owner: str | None = None) -> None:
        self.get(workbook_id, owner)  # raises the not-found error
        self.catalog.delete(workbook_id)

    async def query(self, workbook_id: str, sql: str, owner: str | None = None) -> QueryResult:
        self.get(workbook_id, owner)
        tables = self.catalog.tables(workbook_id)
        if tables is None:
            raise SheetstreamError("workbook tables missing")
        return await self.queries.run(run_query, tables, sql, self.query_limits)


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "workbook_id": record["workbook_id"],
        "filename": record["filename"],
        "format": record["format"],
        "size_bytes": record["size_bytes"],
        "uploaded_at": record["uploaded_at"],
        "sheets": [
            {"name": s["name"], "rows": s["rows"], "columns": len(s["columns"])}
            for s in record["sheets"]
        ],
    }


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
