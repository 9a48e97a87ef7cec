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
    "prometheus_client": {"api/metrics.py"},
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


# --- floors and rooms ------------------------------------------------------------------------
#
# A room is a package (store, modem, sim, codec, api, uplink) or a group of
# top-level modules; each room is on a floor.  A module imports only from
# its own room or from rooms on lower floors, so nothing runs back up, and
# rooms on one floor stay out of each other (the store speaks no modem, the
# transports no dialect, and back).  Type-only imports count too.

ROOMS = {
    "ground": (0, {"errors", "model", "codec", "config", "config_dialects", "config_doors", "config_lines",
                   "config_net", "config_reader", "redact", "routing", "lineview", "watchdog", "lock", "logs", "systemd",
                   "metrics_recorder"}),
    "goip": (1, {"goip"}),  # the channels of GoIP boxes, over UDP
    "store": (1, {"store"}),
    "modem": (1, {"modem"}),
    "sim": (1, {"sim"}),
    "core": (2, {"core", "router", "limits", "jobs"}),
    "api": (3, {"api"}),  # the dialects (HTTP and MQTT) and the status page
    "uplink": (3, {"uplink"}),
    "doors": (3, {"doors"}),  # the binary doors: the SMPP and CMPP servers  # the transports: MQTT client, outbox forwarding, webhooks, status publishing
    "wiring": (4, {"app", "cli", "__main__", "pdu_cli", "__init__"}),
}


def _module(path: Path) -> str:
    rel = path.relative_to(AGENT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _room(module: str) -> str:
    head = module.split(".")[0]
    for room, (_, members) in ROOMS.items():
        if head in members:
            return room
    raise AssertionError(f"agent/{module.replace('.', '/')}.py is in no room: add it to ROOMS")


def _edges() -> dict[str, set[str]]:
    """module -> the agent modules it imports (every import, type-only ones too)."""
    modules = {_module(p): p for p in AGENT.rglob("*.py")}
    out: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[:len(package) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                elif node.module and (node.module == "agent" or node.module.startswith("agent.")):
                    target = node.module[len("agent."):] if node.module != "agent" else ""
                else:
                    continue
                for alias in node.names:
                    full = f"{target}.{alias.name}".strip(".")
                    found.add(full if full in modules else target)
            elif isinstance(node, ast.Import):
                found.update(a.name[len("agent."):] for a in node.names if a.name.startswith("agent."))
        out[name] = {m for m in found if m in modules and m != name}
    return out


def test_no_import_runs_up_a_floor_or_across_a_room():
    wrong = []
    for module, targets in _edges().items():
        room = _room(module)
        for target in targets:
            other = _room(target)
            if other != room and ROOMS[other][0] >= ROOMS[room][0]:
                wrong.append(f"{module} -> {target} ({room} on floor {ROOMS[room][0]},"
                             f" {other} on floor {ROOMS[other][0]})")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_two_modules_import_each_other_even_through_others():
    edges = _edges()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    assert not cycles, f"modules that import each other: {cycles}"
