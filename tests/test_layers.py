"""simclock's packages form layers: each imports only from the layers below it.

The test reads every module's imports (all of them: at the top, inside
functions, and under `TYPE_CHECKING`) and checks two rules:

- a package imports only from packages on a lower layer, or from itself;
- no name with a leading underscore is imported from another package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "simclock"

#: Lowest first. A room is a package (`simclock/clock/`) or a top-level module.
LAYERS: list[set[str]] = [
    {"_compat", "_version"},
    {"timeline"},
    {"errors"},
    {"clock"},
    {"process"},
    {"threads"},
    {"loop"},
    {"exploration", "strategies", "testing"},
    {"replay"},
    {"__init__", "__main__", "render", "pytest_plugin"},
]
LAYER_OF = {room: index for index, rooms in enumerate(LAYERS) for room in rooms}


def room_of(module: str) -> str:
    """`simclock.loop.iteration` -> `loop`; `simclock` -> `__init__`."""
    parts = module.split(".")
    assert parts[0] == "simclock", module
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[tuple[int, str, str | None]]:
    """Every `(line, module, name)` of simclock that `path` imports; name None for `import x`."""
    found: list[tuple[int, str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if alias.name.startswith("simclock")]
            found += [(node.lineno, name, None) for name in names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "simclock" or node.module.startswith("simclock."):
                found += [(node.lineno, node.module, alias.name) for alias in node.names]
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_room_has_a_layer() -> None:
    rooms = {room_of(module_name(path)) for path in MODULES}
    assert rooms <= set(LAYER_OF), f"rooms without a layer: {sorted(rooms - set(LAYER_OF))}"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: module_name(path))
def test_imports_go_down_the_layers(path: Path) -> None:
    importer = room_of(module_name(path))
    wrong = []
    for line, module, name in imports(path):
        target = module if name is None or module != "simclock" else f"simclock.{name}"
        room = room_of(target)
        if room == importer:
            continue
        if LAYER_OF[room] >= LAYER_OF[importer]:
            wrong.append(f"line {line}: imports {target} ({room}, layer {LAYER_OF[room]})")
        if name is not None and name.startswith("_") and name != "__version__":
            wrong.append(f"line {line}: imports the private {name} from {module}")
    where = f"{module_name(path)} ({importer}, layer {LAYER_OF[importer]})"
    assert not wrong, where + ":\n" + "\n".join(wrong)


def test_the_layer_check_catches_an_import_up_and_a_private_name(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text(
        "from simclock.loop.loop import VirtualEventLoop\nfrom simclock.errors import shorten\n"
    )
    found = imports(source)
    assert [(module, name) for _line, module, name in found] == [
        ("simclock.loop.loop", "VirtualEventLoop"),
        ("simclock.errors", "shorten"),
    ]
    assert LAYER_OF[room_of("simclock.loop.loop")] > LAYER_OF["clock"]
