"""Settings: every knob documented, read from SHEETSTREAM_* the way operators write them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sheetstream.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented_with_a_description() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"`SHEETSTREAM_([A-Z0-9_]+)`", doc))
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"
        assert name.upper() in documented, f"SHEETSTREAM_{name.upper()} is not in configuration.md"
    unknown = documented - {n.upper() for n in Settings.model_fields}
    assert not unknown, f"configuration.md documents settings that do not exist: {unknown}"


def test_the_settings_table_says_what_the_code_says() -> None:
    """Each row of configuration.md's table: the setting's default and its description."""
    rows = {
        m.group(1): (m.group(2), m.group(3))
        for m in re.finditer(
            r"^\| `SHEETSTREAM_([A-Z0-9_]+)` \| `([^`]*)` \| (.*) \|$",
            (ROOT / "docs" / "configuration.md").read_text(),
            re.MULTILINE,
        )
    }
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        shown = "(empty)" if default in ("", None, []) else str(default)
        assert rows[name.upper()] == (shown, field.description), f"SHEETSTREAM_{name.upper()}"


def test_lists_are_comma_separated_and_durations_plain_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHEETSTREAM_ALLOWED_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("SHEETSTREAM_STREAM_RETENTION_S", "30")
    monkeypatch.setenv("SHEETSTREAM_BATCH_MAX_DELAY_MS", "10")
    monkeypatch.setenv("SHEETSTREAM_MODEL", "synthetic")
    settings = Settings()
    assert settings.allowed_origins == ["https://a.example", "https://b.example"]
    assert settings.stream_retention_s == 30.0 and settings.batch_max_delay_ms == 10
    assert settings.model == "synthetic"


def test_defaults_are_the_embedded_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("SHEETSTREAM_"):
            monkeypatch.delenv(name)
    settings = Settings()
    assert settings.model == "llamacpp" and settings.port == 8005
    assert settings.host == "127.0.0.1" and settings.max_message_bytes == 65536
    assert settings.resolved_database_url().startswith("sqlite:///")


def test_an_unknown_model_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEETSTREAM_MODEL", "gpt-17")
    with pytest.raises(ValueError, match="model"):
        Settings()


def test_security_md_lists_every_limit_with_its_setting() -> None:
    """Each limit (max_*, quota_*, workbook_*, query_* settings) is in security.md's table."""
    doc = (ROOT / "docs" / "security.md").read_text()
    table = doc[doc.index("## Every limit") :]
    listed = set(re.findall(r"`SHEETSTREAM_([A-Z0-9_]+)`", table))
    limits = {
        name.upper()
        for name in Settings.model_fields
        if name.startswith(("max_", "quota_", "workbook_", "query_"))
    }
    assert limits - listed == set()
    assert listed - {name.upper() for name in Settings.model_fields} == set()
