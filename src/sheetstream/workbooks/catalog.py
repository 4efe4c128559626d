"""Where each workbook's files live: `DATA_DIR/workbooks/<id>/`, with its profile as JSON.

The original upload is kept as `original` (never served back); the parsed tables are
`tables.duckdb`; `workbook.json` holds the profile the API returns.

Which workbooks exist, whose they are and what they take is the index's (`WorkbookIndex`): the
database's, shared by every node, or `MemoryIndex` for a service built without storage. The
catalog only touches files: `scan` (to index workbooks from before the database knew them),
`write`, `read` (a few records kept parsed: a record never changes once written, so callers
ask the index whether it still exists first), `forget_record` and `remove_files`. They are
synchronous and thread-safe: callers run them off the event loop.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import threading
from collections import OrderedDict
from collections.abc import Collection
from pathlib import Path
from typing import Any

from sheetstream.storage.base import WorkbookEntry

_ID = re.compile(r"wb_[A-Za-z0-9_-]{16}")
_CACHE_BYTES = 32 * 1024 * 1024  # of workbook.json files kept parsed

Entry = WorkbookEntry  # what the index knows of one workbook without reading its record


def new_workbook_id() -> str:
    return "wb_" + secrets.token_urlsafe(12)


def is_workbook_id(workbook_id: str) -> bool:
    return _ID.fullmatch(workbook_id) is not None


class MemoryIndex:
    """A `WorkbookIndex` in this process only, filled from the folders at start-up: for a
    service without storage (one process, nothing to share)."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}

    async def add_workbook(self, entry: Entry) -> bool:
        return self.entries.setdefault(entry.workbook_id, entry) is entry

    async def get_workbook(self, workbook_id: str) -> Entry | None:
        return self.entries.get(workbook_id)

    async def list_workbooks(self, owner: str | None) -> list[Entry]:
        own = [e for e in self.entries.values() if owner is None or e.owner == owner]
        return sorted(own, key=lambda e: (e.uploaded_at, e.workbook_id))

    async def workbook_usage(self, owner: str) -> tuple[int, int]:
        own = [e for e in self.entries.values() if e.owner == owner]
        return len(own), sum(e.stored_bytes for e in own)

    async def delete_workbook(self, workbook_id: str) -> bool:
        return self.entries.pop(workbook_id, None) is not None


class WorkbookCatalog:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: OrderedDict[str, tuple[int, dict[str, Any]]] = OrderedDict()
        self._cached_bytes = 0
        self._lock = threading.Lock()

    def folder(self, workbook_id: str) -> Path | None:
        """The workbook's folder, or None for an id that is not one of ours."""
        if not is_workbook_id(workbook_id):
            return None
        return self.root / workbook_id

    def scan(self, skip: Collection[str] = ()) -> list[Entry]:
        """The entry of every readable record but those of the ids in `skip`, oldest first."""
        if not self.root.is_dir():
            return []
        entries = []
        for folder in sorted(f for f in self.root.iterdir() if f.name not in skip):
            record = self.read(folder.name, remember=False)
            if record is None or record.get("workbook_id") != folder.name:
                continue
            try:
                entries.append(self._entry(record))
            except (OSError, LookupError, TypeError):
                continue  # removed meanwhile (another node deleting it), or not a record
        return sorted(entries, key=lambda e: e.uploaded_at)

    def create(self, workbook_id: str) -> Path:
        folder = self.root / workbook_id
        folder.mkdir(parents=True, exist_ok=False)
        return folder

    def write(self, record: dict[str, Any]) -> Entry:
        """Save the record of a new workbook; its entry is for the index."""
        path = self.root / record["workbook_id"] / "workbook.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, ensure_ascii=False))
        tmp.replace(path)
        return self._entry(record)

    def read(self, workbook_id: str, remember: bool = True) -> dict[str, Any] | None:
        """The whole record, from the cache or its file; None if it cannot be read."""
        with self._lock:
            cached = self._cache.get(workbook_id)
            if cached is not None:
                self._cache.move_to_end(workbook_id)
                return cached[1]
        folder = self.folder(workbook_id)
        if folder is None:
            return None
        try:
            text = (folder / "workbook.json").read_text()
            record: dict[str, Any] = json.loads(text)
        except (OSError, ValueError):
            return None
        if remember:
            self._remember(workbook_id, len(text), record)
        return record

    def tables(self, workbook_id: str) -> Path | None:
        folder = self.folder(workbook_id)
        return None if folder is None else folder / "tables.duckdb"

    def has_record(self, workbook_id: str) -> bool:
        folder = self.folder(workbook_id)
        return folder is not None and (folder / "workbook.json").is_file()

    def forget_record(self, workbook_id: str) -> None:
        """Remove the record first, so that a node indexing the folders meanwhile (`scan`)
        cannot bring a deleted workbook back: a folder without one is left alone."""
        with self._lock:
            cached = self._cache.pop(workbook_id, None)
            if cached is not None:
                self._cached_bytes -= cached[0]
        folder = self.folder(workbook_id)
        if folder is not None:
            (folder / "workbook.json").unlink(missing_ok=True)

    def remove_files(self, workbook_id: str) -> None:
        folder = self.folder(workbook_id)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def _remember(self, workbook_id: str, size: int, record: dict[str, Any]) -> None:
        if size > _CACHE_BYTES // 4:
            return  # a huge profile is read each time rather than pushing out all the others
        with self._lock:
            if workbook_id in self._cache:
                return
            self._cache[workbook_id] = (size, record)
            self._cached_bytes += size
            while self._cached_bytes > _CACHE_BYTES:
                _, (dropped, _) = self._cache.popitem(last=False)
                self._cached_bytes -= dropped

    def _entry(self, record: dict[str, Any]) -> Entry:
        folder = self.root / record["workbook_id"]
        stored = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        return Entry(
            workbook_id=record["workbook_id"],
            owner=record.get("owner", ""),
            stored_bytes=stored,
            uploaded_at=record["uploaded_at"],
            summary=_summary(record),
        )


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
