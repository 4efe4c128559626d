"""Model backends; `create_model` picks one by name and imports only that one."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sheetstream.llm.base import Model
    from sheetstream.settings import Settings


def create_model(settings: Settings) -> Model:
    if settings.model == "llamacpp":
        from sheetstream.llm.llamacpp import LlamaCppModel

        return LlamaCppModel.from_settings(settings)
    if settings.model == "openai":
        from sheetstream.llm.openai_compat import OpenAICompatModel

        return OpenAICompatModel.from_settings(settings)
    from sheetstream.llm.synthetic import SyntheticModel

    return SyntheticModel.from_settings(settings)
