"""What a config problem is, and how a value is shown in its message.

The lowest room of the config package: models raise these, the message translator reads them,
and callers (``cli``, ``settings``) catch :class:`ConfigError` without importing pydantic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ConfigError", "Loc", "Problem", "show"]

Loc = tuple[str | int, ...]


class ConfigError(Exception):
    """The config cannot be used. ``str(error)`` is the one-screen text to show people.

    ``problems`` holds one ``<key.path>: <problem> — <fix>`` line per problem (no file or line
    prefix, so tests and callers can match them exactly); ``lines`` is the parallel list of YAML
    line numbers (``None`` when unknown), handy for editor or workflow annotations.
    """

    def __init__(
        self,
        message: str,
        problems: Sequence[str] | None = None,
        *,
        source: str | None = None,
        lines: Sequence[int | None] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.problems: list[str] = list(problems) if problems is not None else [message]
        self.lines: list[int | None] = (
            list(lines) if lines is not None else [None] * len(self.problems)
        )
        self.source = source

    def __str__(self) -> str:
        return self.message


class Problem(ValueError):
    """A validator's problem(s), each aimed at a key *below* the model that raised it.

    Pydantic reports a model validator's error at the model itself; carrying the sub-path lets
    the message point at the exact key (``checks.agent_flow.order[2]``), and carrying several
    lets one validator report every problem at once.
    """

    def __init__(self, *items: tuple[Loc, str]) -> None:
        super().__init__("; ".join(message for _, message in items))
        self.items = list(items)


def show(value: Any, limit: int = 40) -> str:
    """A short, YAML-flavoured rendering of a value for messages (never a whole structure)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        text = value if len(value) <= limit else value[: limit - 1] + "…"
        return json.dumps(text, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
