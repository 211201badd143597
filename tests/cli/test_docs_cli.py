"""``portscope docs``: the guide reachable from an installed package; help points to it (issue 11, case 18)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from portscope.docs import read_topic, topics
from portscope.errors import UsageError
from tests.conftest import REPO, run_portscope

DOCS = REPO / "src" / "portscope" / "docs"


def test_every_page_is_a_topic_and_prints_as_written() -> None:
    pages = sorted(path.stem for path in DOCS.glob("*.md"))
    assert [topic.name for topic in topics()] == pages and len(pages) >= 8
    listed = run_portscope("docs")
    assert listed.returncode == 0, listed.stderr
    for name in pages:
        assert re.search(rf"^{re.escape(name)} +\S", listed.stdout, flags=re.MULTILINE), name
    shown = run_portscope("docs", "live")
    assert shown.returncode == 0 and shown.stdout == (DOCS / "live.md").read_text(encoding="utf-8")


def test_a_topic_is_found_by_path_or_unique_prefix_and_json_carries_its_text() -> None:
    assert read_topic("docs/schema.md")[0].name == read_topic("sche")[0].name == "schema"
    with pytest.raises(UsageError, match="it could be analyze, analyze-json"):
        read_topic("an")
    doc = json.loads(run_portscope("docs", "findings", "--json").stdout)
    assert doc["name"] == "findings" and doc["title"] == "Findings" and doc["text"].startswith("# Findings")
    assert {t["name"] for t in json.loads(run_portscope("docs", "--json").stdout)["topics"]} >= {"live", "schema"}


def test_unknown_topic_is_one_line_exit_2() -> None:
    done = run_portscope("docs", "nosuchtopic")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "topics: analyze," in done.stderr


def test_the_wheel_ships_the_guide() -> None:
    """The pages are package data (the repository's docs/ is a link to them), so pip users have them."""
    config = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    listed = re.search(r"\[tool\.setuptools\.package-data\]\s*portscope = \[(.*?)\]", config, flags=re.DOTALL)
    assert listed, "pyproject.toml lists no package data"
    patterns = re.findall(r'"([^"]+)"', listed.group(1))
    package = REPO / "src" / "portscope"
    shipped = {path for pattern in patterns for path in package.glob(pattern)}
    assert set(DOCS.glob("*.md")) <= shipped and (DOCS / "__init__.py").exists()
    assert (REPO / "docs").resolve() == DOCS.resolve()


@pytest.mark.parametrize("command", ["", "live", "explain", "convert", "analyze", "docs"])
def test_help_names_topics_not_paths_a_pip_user_lacks(command: str) -> None:
    done = run_portscope(*([command] if command else []), "--help", env={"COLUMNS": "200"})
    assert done.returncode == 0
    assert not re.search(r"docs/[\w-]+\.md", done.stdout), done.stdout


def test_format_help_lists_the_formats_and_os_help_starts_with_linux_and_windows() -> None:
    from portscope.sources import SOURCE_NAMES

    for command in ("convert", "analyze"):
        text = " ".join(run_portscope(command, "--help", env={"COLUMNS": "400"}).stdout.split())
        assert ", ".join(SOURCE_NAMES) in text, command
    for command in ("explain", "analyze"):
        text = " ".join(run_portscope(command, "--help", env={"COLUMNS": "400"}).stdout.split())
        names = re.search(r"--os OS .*?\((?:default[^)]*\), )?([a-z, -]+)", text)
        assert names and names.group(1).split(", ")[:2] == ["linux", "windows"], (command, text)


def test_readme_links_resolve() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for link in re.findall(r"\]\(([^)#:]+)\)", readme):
        assert (REPO / link).exists(), link
    assert Path(REPO / "docs" / "live.md").is_file()
