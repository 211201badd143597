"""``portscope docs``: the user's guide, from the installed package (no clone, no web needed)."""

from __future__ import annotations

import argparse

TYPE_CHECKING = False  # typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_parser", "run"]

_DESCRIPTION = """\
Print a topic of portscope's guide (Markdown, as shipped with the package), or list the topics.
A unique beginning of a topic's name is enough: `portscope docs analyze-j`.
"""

_EPILOG = """\
examples:
  portscope docs                    the topics, with their titles
  portscope docs live               the live views: columns, roles, JSON, thresholds
  portscope docs schema | less      the flow table's columns
"""


def add_parser(commands: Any) -> None:
    from portscope.cli import HelpFormatter

    parser = commands.add_parser(
        "docs",
        help="read the guide: portscope docs live, docs analyze, docs schema...",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("topic", nargs="?", metavar="TOPIC", help="a topic's name; without one, list them")
    parser.add_argument("--json", action="store_true", help="the list, or the topic with its text, as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from portscope.cli import EXIT_OK
    from portscope.docs import read_topic, topics

    if args.topic is None:
        listed = topics()
        if args.json:
            from portscope.render.json_doc import dumps

            print(dumps({"topics": [topic._asdict() for topic in listed]}))
        else:
            width = max(len(topic.name) for topic in listed)
            print("\n".join(f"{topic.name:<{width}}  {topic.title}" for topic in listed))
            print("\nportscope docs TOPIC prints one.")
        return EXIT_OK
    topic, text = read_topic(args.topic)
    if args.json:
        from portscope.render.json_doc import dumps

        print(dumps({**topic._asdict(), "text": text}))
    else:
        print(text, end="" if text.endswith("\n") else "\n")
    return EXIT_OK
