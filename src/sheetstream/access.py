"""User tokens and their owners: who a request speaks for, decided without I/O.

A token entry is `owner:token` (the token may hold colons), or a bare `token` without colons,
whose owner is named after a hash of it.
With no entries the service is open: requests speak for no one in particular and see
everything. Tokens are looked up by their SHA-256 digest, so the comparison does not depend on
how much of a guessed token is right, and no token is kept in the clear after loading.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MIN_TOKEN_CHARS = 16
_OWNER = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~+/=:-]+")
# `token=` also spelled with percent-escapes (`%74oken=`), which the query parser decodes
_SECRET = re.compile(
    r"(?i)((?:t|%74)(?:o|%6f)(?:k|%6b)(?:e|%65)(?:n|%6e)(?:=|%3d)|bearer\s+)[^&\s]+"
)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _bare_owner(token: str) -> str:
    """A stable name for a token given without one. Shown to the operator, so it is a slow
    hash of the token (a guess costs 100,000 rounds), not a fast one."""
    return hashlib.pbkdf2_hmac("sha256", token.encode(), b"sheetstream owner", 100_000)[:6].hex()


class TokenConfigError(ValueError):
    """A token entry the service refuses to start with; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class TokenBook:
    """The configured tokens, by digest, and the owner each one speaks for."""

    owners: dict[bytes, str]

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> TokenBook:
        owners: dict[bytes, str] = {}
        for entry in entries:
            entry = entry.strip()
            if not entry or entry.startswith("#"):
                continue
            owner, sep, token = entry.partition(":")
            if not sep:
                token = entry
                owner = "token-" + _bare_owner(entry)
            if not _OWNER.fullmatch(owner):
                raise TokenConfigError(
                    "A token's owner must be 1-64 of A-Z a-z 0-9 _ . @ - "
                    "(entries are `owner:token`)."
                )
            if len(token) < MIN_TOKEN_CHARS or not _TOKEN_CHARS.fullmatch(token):
                raise TokenConfigError(
                    f"The token of owner {owner!r} must be at least {MIN_TOKEN_CHARS} characters "
                    "of A-Z a-z 0-9 . _ ~ + / = : - (no spaces or quotes); make one with "
                    "`python -c 'import secrets; print(secrets.token_urlsafe())'`."
                )
            owners[_digest(token)] = owner
        return cls(owners)

    @property
    def open(self) -> bool:
        """No tokens configured: anyone may connect, and sees everything."""
        return not self.owners

    def owner_for(self, token: str | None) -> str | None:
        """The owner a token speaks for, or None for a missing or unknown token."""
        if token is None:
            return None
        return self.owners.get(_digest(token))


def read_token_file(path: Path) -> list[str]:
    """Entries from a file: one `owner:token` per line, `#` comments and blank lines skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TokenConfigError(
            f"Cannot read the token file {str(path)!r} ({exc.strerror}); "
            "fix SHEETSTREAM_API_TOKENS_FILE."
        ) from None
    return text.splitlines()


def visible(record_owner: str | None, owner: str | None) -> bool:
    """May a request speaking for `owner` (None: the service is open) see this record?"""
    return owner is None or record_owner == owner


def redact_tokens(text: str) -> str:
    """`?token=abc&x=1` -> `?token=***&x=1`, `Bearer abc` -> `Bearer ***`: for anything that
    may reach a log (request lines; handshake headers at debug level)."""
    return _SECRET.sub(r"\1***", text)
