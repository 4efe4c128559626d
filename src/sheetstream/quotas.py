"""What one owner may keep: stored history and workbooks. Pure: the figures in use come
from the storage and the workbook catalog; each refusal says which quota and how to free it.

On an open service (no user tokens) everyone is one owner, so the quotas bound the whole
service's storage.
"""

from __future__ import annotations

from dataclasses import dataclass

from sheetstream.errors import QuotaExceeded


def _mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"


@dataclass(frozen=True, slots=True)
class Quotas:
    """Per owner; 0 turns a quota off."""

    history_bytes: int
    workbooks: int
    workbook_bytes: int

    def check_history(self, used: int) -> None:
        if self.history_bytes and used >= self.history_bytes:
            raise QuotaExceeded(
                f"Your stored history is full ({_mib(used)} of {_mib(self.history_bytes)}); "
                "delete sessions you no longer need (DELETE /api/sessions/{id}) and ask again."
            )

    def check_workbooks(self, count: int, used_bytes: int, adding_bytes: int = 0) -> None:
        """Refuse a new workbook of `adding_bytes` (0 before its size is known)."""
        if self.workbooks and count >= self.workbooks:
            raise QuotaExceeded(
                f"You have {count:,} workbooks, the most one token may keep; delete some "
                "(DELETE /api/workbooks/{id}) before uploading another."
            )
        if self.workbook_bytes and used_bytes + adding_bytes > self.workbook_bytes:
            raise QuotaExceeded(
                f"Your workbooks take {_mib(used_bytes)} and this one {_mib(adding_bytes)}; the "
                f"quota is {_mib(self.workbook_bytes)}. Delete some (DELETE /api/workbooks/{{id}}) "
                "and upload again."
            )
