"""Identifiers of sessions, connections and streams: unguessable, and unique fleet-wide."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(16)}"
