"""Where each workbook's files live: `DATA_DIR/workbooks/<id>/`, with its profile as JSON.

The original upload is kept as `original` (never served back); the parsed tables are
`tables.duckdb`; `workbook.json` holds the profile the API returns.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

_ID = re.compile(r"wb_[A-Za-z0-9_-]{16}")


def new_workbook_id() -> str:
    return "wb_" + secrets.token_urlsafe(12)


class WorkbookCatalog:
    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, workbook_id: str) -> Path | None:
        """The workbook's folder, or None for an id that is not one of ours."""
        if _ID.fullmatch(workbook_id) is None:
            return None
        return self.root / workbook_id

    def create(self, workbook_id: str) -> Path:
        folder = self.root / workbook_id
        folder.mkdir(parents=True, exist_ok=False)
        return folder

    def save(self, workbook_id: str, profile: dict[str, Any]) -> None:
        path = self.root / workbook_id / "workbook.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(profile, ensure_ascii=False))
        tmp.replace(path)

    def get(self, workbook_id: str) -> dict[str, Any] | None:
        folder = self.folder(workbook_id)
        if folder is None:
            return None
        try:
            data: dict[str, Any] = json.loads((folder / "workbook.json").read_text())
        except (OSError, ValueError):
            return None
        return data

    def tables(self, workbook_id: str) -> Path | None:
        folder = self.folder(workbook_id)
        return None if folder is None else folder / "tables.duckdb"

    def list(self) -> list[dict[str, Any]]:
        if not self.root.is_dir():
            return []
        found = (self.get(p.name) for p in sorted(self.root.iterdir()))
        return sorted((w for w in found if w is not None), key=lambda w: w["uploaded_at"])

    def delete(self, workbook_id: str) -> bool:
        folder = self.folder(workbook_id)
        if folder is None or not folder.is_dir():
            return False
        shutil.rmtree(folder)
        return True
