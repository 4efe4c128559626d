"""Where each workbook's files live: `DATA_DIR/workbooks/<id>/`, with its profile as JSON.

The original upload is kept as `original` (never served back); the parsed tables are
`tables.duckdb`; `workbook.json` holds the profile the API returns.

The catalog keeps an index of every workbook's summary in memory (read once at start-up), so
listing, ownership checks and quotas never read a file; whole records are read on demand and
a few are kept. The methods that touch files (`scan`, `write`, `read`, `remove_files`) are
synchronous and thread-safe: callers run them off the event loop; the index is changed only
on the loop (`add`, `forget`).
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_ID = re.compile(r"wb_[A-Za-z0-9_-]{16}")
_CACHE_BYTES = 32 * 1024 * 1024  # of workbook.json files kept parsed


def new_workbook_id() -> str:
    return "wb_" + secrets.token_urlsafe(12)


@dataclass(frozen=True, slots=True)
class Entry:
    """What the index knows of one workbook without reading its record."""

    workbook_id: str
    owner: str
    stored_bytes: int  # the original, its tables and its record, as the quota counts them
    summary: dict[str, Any]  # what `GET /api/workbooks` lists


class WorkbookCatalog:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.index: dict[str, Entry] = {}
        self._cache: OrderedDict[str, tuple[int, dict[str, Any]]] = OrderedDict()
        self._cached_bytes = 0
        self._lock = threading.Lock()

    def folder(self, workbook_id: str) -> Path | None:
        """The workbook's folder, or None for an id that is not one of ours."""
        if _ID.fullmatch(workbook_id) is None:
            return None
        return self.root / workbook_id

    # --- the index, on the event loop

    def add(self, entry: Entry) -> None:
        self.index[entry.workbook_id] = entry

    def forget(self, workbook_id: str) -> Entry | None:
        with self._lock:
            cached = self._cache.pop(workbook_id, None)
            if cached is not None:
                self._cached_bytes -= cached[0]
        return self.index.pop(workbook_id, None)

    def entries(self) -> list[Entry]:
        return sorted(self.index.values(), key=lambda e: e.summary["uploaded_at"])

    def usage(self, owner: str) -> tuple[int, int]:
        """How many workbooks `owner` has, and the bytes they take."""
        own = [e for e in self.index.values() if e.owner == owner]
        return len(own), sum(e.stored_bytes for e in own)

    # --- files, on worker threads

    def scan(self) -> list[Entry]:
        """Every readable record's entry, for the index at start-up."""
        if not self.root.is_dir():
            return []
        found = (self.read(folder.name, remember=False) for folder in sorted(self.root.iterdir()))
        return [self._entry(record) for record in found if record is not None]

    def create(self, workbook_id: str) -> Path:
        folder = self.root / workbook_id
        folder.mkdir(parents=True, exist_ok=False)
        return folder

    def write(self, record: dict[str, Any]) -> Entry:
        """Save the record of a new workbook; its entry goes to the index with `add`."""
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
