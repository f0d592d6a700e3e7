"""The rooms of ARCHITECTURE.md and what each may import, checked on the source: nothing
points back up (the pure packages import no I/O, the connectors no engine, a room only the
rooms below it)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = {"engine.settings", "engine.clock", "engine.wire", "engine.errors", "engine.metrics", "engine.http"}
ROOMS = {  # room -> the rooms it may import (besides itself and the shared modules)
    "decisions": set(),
    "gateways": set(),
    "calls": {"decisions"},
    "flow": {"calls"},
    "api": {"decisions", "calls", "gateways"},
    "process": {"flow", "gateways"},
}
PURE = ("features", "models", "policy")


def imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


def owner(module: str) -> str | None:
    """The room (or "shared") an engine module belongs to; None outside engine."""
    parts = module.split(".")
    if parts[0] != "engine" or len(parts) < 2:
        return None
    if ".".join(parts[:2]) in SHARED:
        return "shared"
    return parts[1] if parts[1] in ROOMS else None


def test_each_room_imports_only_the_rooms_below_it():
    wrong = []
    for room, allowed in ROOMS.items():
        for path in (ROOT / "engine" / room).glob("*.py"):
            for module in imports(path):
                other = owner(module)
                if other not in (None, "shared", room) and other not in allowed:
                    wrong.append(f"engine/{room}/{path.name} imports {module}")
    for name in SHARED:
        path = ROOT / (name.replace(".", "/") + ".py")
        wrong += [f"{name} imports {m}" for m in imports(path) if owner(m) not in (None, "shared")]
    assert not wrong, wrong


def test_pure_packages_and_connectors_import_no_engine():
    wrong = []
    for package in (*PURE, "connectors"):
        for path in (ROOT / package).rglob("*.py"):
            for module in imports(path):
                top = module.split(".")[0]
                if top == "engine" or (package in PURE and top in ("connectors", "redis", "bytewax")):
                    wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not wrong, wrong


def test_every_engine_module_is_in_a_room_or_shared():
    loose = [p.name for p in (ROOT / "engine").glob("*.py") if p.name != "__init__.py"]
    assert sorted(f"engine.{n[:-3]}" for n in loose) == sorted(SHARED)


def test_bytewax_stays_behind_the_flow_room():
    """Bytewax is community-maintained now: its use stays in engine/flow/ so that the pure
    steps could move to another engine unchanged."""
    wrong = [
        str(path.relative_to(ROOT))
        for package in ("engine", "connectors", *PURE)
        for path in (ROOT / package).rglob("*.py")
        if any(m.split(".")[0] == "bytewax" for m in imports(path)) and "flow" not in path.parts
    ]
    assert not wrong, wrong
