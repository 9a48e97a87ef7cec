"""Each foreign library is spoken by exactly one module; codecs are pure."""

import ast
from pathlib import Path

AGENT = Path(__file__).resolve().parent.parent / "agent"

OWNERS = {
    "serial": {"modem/port.py"},
    "waitress": {"api/server.py"},
    "peewee": {"store/"},
    "sqlite3": {"store/"},
    "bottle": {"api/"},
    "paho": {"uplink/mqtt.py"},
    "schedule": {"jobs.py"},
}
IMPURE = {"os", "socket", "serial", "threading", "subprocess", "select", "logging.handlers"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_foreign_libraries_have_one_owner():
    for path in AGENT.rglob("*.py"):
        rel = path.relative_to(AGENT).as_posix()
        for lib, owners in OWNERS.items():
            if lib in _imports(path):
                assert any(rel == o or (o.endswith("/") and rel.startswith(o)) for o in owners), \
                    f"{rel} imports {lib}; only {sorted(owners)} may"


def test_codecs_do_no_io():
    for path in (AGENT / "codec").glob("*.py"):
        bad = _imports(path) & IMPURE
        assert not bad, f"{path.name} imports {bad}: codecs are pure"
