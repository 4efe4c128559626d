"""How both SQL backends lay out a message and a workbook entry as a row (no I/O)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from sheetstream.storage.base import MessageRecord, WorkbookEntry

# MessageRecord's fields, in order: the messages table has these columns (and `bytes`).
MESSAGE_COLUMNS = tuple(field.name for field in dataclasses.fields(MessageRecord))
# JSON is kept as text: jsonb would refuse NaN and \u0000 and reorder keys.
JSON_COLUMNS = ("grounding", "tools")
# what `finish_message` sets
FINAL_COLUMNS = tuple(
    c for c in MESSAGE_COLUMNS if c not in ("stream_id", "session_id", "created_at")
)
WORKBOOK_COLUMNS = "id, owner, stored_bytes, uploaded_at, summary"


def db_value(record: MessageRecord, column: str) -> Any:
    value = getattr(record, column)
    if column in JSON_COLUMNS and value is not None:
        return json.dumps(value)
    return value


def record_from_row(row: Sequence[Any]) -> MessageRecord:
    values = dict(zip(MESSAGE_COLUMNS, row, strict=True))
    values["partial"] = bool(values["partial"])
    for column in JSON_COLUMNS:
        if values[column] is not None:
            values[column] = json.loads(values[column])
    return MessageRecord(**values)


def workbook_from_row(row: Sequence[Any]) -> WorkbookEntry:
    workbook_id, owner, stored_bytes, uploaded_at, summary = row
    return WorkbookEntry(workbook_id, owner, int(stored_bytes), uploaded_at, json.loads(summary))
