"""Imports point down only: consumers/ -> queries/ -> pipeline/, and inside consumers/ the concerns
import each other downward (web and the command line on top, feed and mail standing alone)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What each room may import from the project, besides itself; "*" is anything.
MAY_IMPORT = {
    "pipeline": set(),
    "queries": {"pipeline"},
    "consumers.store": {"pipeline", "queries"},
    "consumers.worker": {"pipeline", "queries", "consumers.store"},
    "consumers.on_worker": {"pipeline", "consumers.store"},
    "consumers.feed": {"pipeline"},
    "consumers.mail": {"pipeline"},
    "consumers.sql": {"pipeline"},
    "consumers.reports": {
        "pipeline",
        "queries",
        "consumers.worker",
        "consumers.on_worker",
        "consumers.store",
        "consumers.sql",
    },
    "consumers.schedules": {
        "pipeline",
        "queries",
        "consumers.worker",
        "consumers.on_worker",
        "consumers.store",
        "consumers.reports",
        "consumers.mail",
    },
    "consumers.alerts": {
        "pipeline",
        "queries",
        "consumers.worker",
        "consumers.on_worker",
        "consumers.store",
        "consumers.mail",
    },
    "consumers.web": {
        "pipeline",
        "queries",
        "consumers.on_worker",
        "consumers.store",
        "consumers.reports",
        "consumers.schedules",
        "consumers.alerts",
        "consumers.sql",
    },
    "consumers.cli": {"*"},
    "consumers.demo": {"*"},
}
PROJECT = ("pipeline", "queries", "consumers")


def room_of(module: str) -> str | None:
    """The longest room name `module` lies in."""
    rooms = [room for room in MAY_IMPORT if module == room or module.startswith(room + ".")]
    return max(rooms, key=len, default=None)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name.split(".")[0] in PROJECT}


def sources() -> list[Path]:
    return sorted(p for package in PROJECT for p in (ROOT / package).rglob("*.py") if "node_modules" not in p.parts)


def test_every_module_lies_in_a_room() -> None:
    assert [module_name(p) for p in sources() if room_of(module_name(p)) is None] == ["consumers"]


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path: Path) -> None:
    room = room_of(module_name(path))
    if room is None or "*" in MAY_IMPORT[room]:
        return
    allowed = MAY_IMPORT[room] | {room}
    upward = sorted(
        name
        for name in project_imports(path)
        if room_of(name) not in allowed and not any(name == a or name.startswith(a + ".") for a in allowed)
    )
    assert not upward, f"{module_name(path)} ({room}) imports {upward}"
