"""How the package is laid out: modules per folder, import floors, private reads.

    python3 scripts/layout_stats.py [PACKAGE_DIR]     # default: simclock

- modules per folder, packages' `__init__` counted as modules;
- import floors: the longest chain of module-level imports (TYPE_CHECKING
  blocks left out), a module that imports no other of the package on floor 1;
- reads of other objects' private attributes: `x._name` where `x` is not
  `self`, `cls` or `super()`, outside `_compat` (whose job they are) and apart.
"""

import ast
import collections
import functools
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "simclock").resolve()
mods: dict[str, set[str]] = {}
private: collections.Counter[str] = collections.Counter()
for path in sorted(root.rglob("*.py")):
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    name = ".".join(parts)
    deps: set[str] = set()
    tree = ast.parse(path.read_text())

    def visit(body: list[ast.stmt], deps: set[str] = deps) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(node.orelse)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
                continue
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("simclock")
            ):
                if node.module == "simclock":
                    deps.update(f"simclock.{alias.name}" for alias in node.names)
                else:
                    deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("simclock"))

    visit(tree.body)
    mods[name] = deps
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        if node.attr.startswith("__"):
            continue
        base = node.value
        if isinstance(base, ast.Name) and base.id in ("self", "cls"):
            continue
        if isinstance(base, ast.Call) and getattr(base.func, "id", None) == "super":
            continue
        private["_compat" if "._compat" in name else "elsewhere"] += 1

names = set(mods)


def resolve(dep: str) -> str | None:
    while dep not in names and "." in dep:
        dep = dep.rsplit(".", 1)[0]
    return dep if dep in names else None


@functools.cache
def floor(module: str, stack: tuple[str, ...] = ()) -> int:
    below = [resolve(dep) for dep in mods[module]]
    found = [dep for dep in below if dep and dep != module and dep not in stack]
    return 1 + max((floor(dep, (*stack, module)) for dep in found), default=0)


def folder(module: str) -> str:
    is_file = pathlib.Path(root.parent, *module.split(".")).with_suffix(".py").exists()
    return module.rsplit(".", 1)[0] if is_file else module


folders = collections.Counter(folder(m) for m in names)
print(f"modules: {len(names)}; import floors: {max(floor(m) for m in names)}")
print("modules per folder:", ", ".join(f"{k} {v}" for k, v in sorted(folders.items())))
print(
    "reads of other objects' private attributes: "
    f"{private['elsewhere']} outside _compat, {private['_compat']} in it"
)
