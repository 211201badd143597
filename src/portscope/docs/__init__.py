"""The user's guide, shipped inside the package so that ``pip install portscope`` users have it too.

Each topic is one Markdown file of this folder (the repository's top-level ``docs`` points here);
``portscope docs`` lists them and ``portscope docs TOPIC`` prints one. Help texts name topics, not paths.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, NamedTuple

from portscope.errors import UsageError

if TYPE_CHECKING:
    from importlib.abc import Traversable

__all__ = ["Topic", "read_topic", "topics"]


class Topic(NamedTuple):
    """One page of the guide: ``name`` is what ``portscope docs NAME`` takes; ``title`` its first heading."""

    name: str
    title: str


def _folder() -> Traversable:
    return resources.files(__name__)


def _title(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip().replace("`", "")
    return ""


def topics() -> list[Topic]:
    """Every topic, by name."""
    pages = sorted(
        (entry for entry in _folder().iterdir() if entry.name.endswith(".md")), key=lambda e: e.name.removesuffix(".md")
    )
    return [Topic(page.name.removesuffix(".md"), _title(page.read_text(encoding="utf-8"))) for page in pages]


def _name_of(asked: str) -> str:
    """``live``, ``live.md`` and ``docs/live.md`` all name the topic ``live``; a unique prefix does too."""
    name = asked.strip().lower().rsplit("/", 1)[-1].removesuffix(".md")
    names = [topic.name for topic in topics()]
    if name in names:
        return name
    matches = [candidate for candidate in names if candidate.startswith(name)] if name else []
    if len(matches) == 1:
        return matches[0]
    hint = f"it could be {', '.join(matches)}" if matches else f"topics: {', '.join(names)}"
    raise UsageError(f"no documentation topic {asked!r}; {hint}")


def read_topic(asked: str) -> tuple[Topic, str]:
    """The topic ``asked`` names and its Markdown text; :class:`UsageError` naming the topics otherwise."""
    name = _name_of(asked)
    text = (_folder() / f"{name}.md").read_text(encoding="utf-8")
    return Topic(name, _title(text)), text
