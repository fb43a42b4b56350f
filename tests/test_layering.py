"""Dependencies point one way, read from the source (no imports are executed).

- Only ``gemma_review.cli`` knows argparse; every command is a typed function.
- The engine (``gemma_review`` minus the front ends) never imports the hook, the language
  server, pygls or lsprotocol.
- The hook and the language server never import the CLI.
- Nothing imports the folders by their old top-level names (``hooks``, ``lsp_server``).
- No module reaches into another of our modules' private names.
- No two modules import each other, through any chain, type-only and function-local
  imports included.
- No module is over 600 lines (but those in ``STILL_SPLITTING``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# folder -> installed package name (pyproject's package-dir mapping)
PACKAGES = {"gemma_review": "gemma_review", "hooks": "gemma_review.hooks", "lsp_server": "gemma_review.lsp"}
FRONT_ENDS = ("gemma_review.cli", "gemma_review.__main__", "gemma_review.hooks", "gemma_review.lsp")
OLD_NAMES = ("hooks", "lsp_server")


@dataclass(frozen=True)
class Module:
    name: str  # installed dotted name
    path: Path
    is_package: bool
    tree: ast.Module

    def within(self, prefix: str) -> bool:
        return self.name == prefix or self.name.startswith(prefix + ".")


def load_modules() -> list[Module]:
    out = []
    for folder, package in PACKAGES.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([package, *parts])
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            out.append(Module(name, path, path.name == "__init__.py", tree))
    return out


MODULES = load_modules()


def imported(module: Module) -> list[tuple[str, int]]:
    """Every module name ``module`` imports (relative imports resolved), with its line."""
    names: list[tuple[str, int]] = []
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            names += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.append((target, node.lineno))
            # `from . import x` imports the module x
            names += [(f"{target}.{a.name}", node.lineno) for a in node.names]
    return names


def where(module: Module, line: int) -> str:
    return f"{module.path.relative_to(REPO)}:{line}"


def violations(rule) -> list[str]:
    out = []
    for module in MODULES:
        for name, line in imported(module):
            problem = rule(module, name)
            if problem:
                out.append(f"{where(module, line)} imports {name}: {problem}")
    return out


def top(name: str) -> str:
    return name.split(".")[0]


def test_the_modules_are_found() -> None:
    names = {m.name for m in MODULES}
    assert {"gemma_review.cli", "gemma_review.options", "gemma_review.hooks.pre_commit",
            "gemma_review.lsp.server", "gemma_review.lsp.transport",
            "gemma_review.backends.ollama_admin"} <= names


def test_only_the_cli_knows_argparse() -> None:
    def rule(module: Module, name: str) -> str | None:
        if top(name) == "argparse" and module.name != "gemma_review.cli":
            return "only gemma_review/cli.py parses arguments; take typed parameters instead"
        return None

    assert violations(rule) == []


def test_the_engine_does_not_import_its_front_ends() -> None:
    def rule(module: Module, name: str) -> str | None:
        if any(module.within(f) for f in FRONT_ENDS):
            return None
        if top(name) in ("pygls", "lsprotocol"):
            return "the engine never imports the language server's libraries"
        if any(name == f or name.startswith(f + ".") for f in FRONT_ENDS):
            return "the engine never imports a front end"
        return None

    assert violations(rule) == []


def test_hook_and_language_server_do_not_import_the_cli() -> None:
    def rule(module: Module, name: str) -> str | None:
        if (module.within("gemma_review.hooks") or module.within("gemma_review.lsp")) and (
            name == "gemma_review.cli" or name.startswith("gemma_review.cli.")
        ):
            return "front ends share gemma_review.options, not the CLI module"
        return None

    assert violations(rule) == []


@pytest.mark.parametrize("folder", ["gemma_review", "hooks", "lsp_server", "tests", "benchmarks"])
def test_nothing_imports_the_old_top_level_names(folder: str) -> None:
    bad = []
    for path in sorted((REPO / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            bad += [f"{path.relative_to(REPO)}:{node.lineno} imports {n}" for n in names if top(n) in OLD_NAMES]
    assert bad == [], "use gemma_review.hooks / gemma_review.lsp"


def private_names(module: Module) -> set[str]:
    """``_names`` a module defines: top-level, in classes, and ``self._x`` attributes."""
    out: set[str] = set()
    for node in ast.walk(module.tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            out.add(node.attr)
    return {n for n in out if is_private(n)}


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_module_uses_another_modules_private_names() -> None:
    own = {m.name: private_names(m) for m in MODULES}
    by_name: dict[str, set[str]] = {}
    for name, privates in own.items():
        for private in privates:
            by_name.setdefault(private, set()).add(name)
    bad = []
    for module in MODULES:
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ImportFrom):
                ours = node.level > 0 or top(node.module or "") == "gemma_review"
                if ours:
                    bad += [f"{where(module, node.lineno)} imports {a.name}" for a in node.names if is_private(a.name)]
            elif isinstance(node, ast.Attribute) and node.attr in by_name:
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                    continue
                if module.name not in by_name[node.attr]:
                    bad.append(f"{where(module, node.lineno)} uses {node.attr} of {', '.join(sorted(by_name[node.attr]))}")
    assert bad == [], "make the name public or move the code next to it"


# --- no import cycles --------------------------------------------------------------------


def dependencies() -> dict[str, dict[str, int]]:
    """module -> {module of ours it imports: the line}, every import counted.

    Imports under ``if TYPE_CHECKING:`` and inside functions count too: a cycle that only
    a type or a late import hides is still two modules that cannot be read, tested or
    moved one without the other. ``from package import name`` counts as importing the
    submodule when ``name`` is one, else the package.
    """
    ours = {m.name for m in MODULES}
    graph: dict[str, dict[str, int]] = {}
    for module in MODULES:
        edges: dict[str, int] = {}
        for node in ast.walk(module.tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = resolve(module, node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in ours else base)
            for target in targets:
                if target in ours and target != module.name:
                    edges.setdefault(target, node.lineno)
        graph[module.name] = edges
    return graph


def resolve(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    base = package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_cycle_finder_sees_type_only_and_local_imports() -> None:
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert cycles(graph) == [["a", "b", "c"]]
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .server import X\ndef f():\n    from . import jobs\n")
    module = Module("gemma_review.lsp.reviewer", REPO / "lsp_server" / "reviewer.py", False, tree)
    assert [resolve(module, n) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level] == [
        "gemma_review.lsp.server", "gemma_review.lsp"]


def test_no_import_cycles() -> None:
    graph = dependencies()
    paths = {m.name: m for m in MODULES}
    report = []
    for component in cycles(graph):
        members = set(component)
        edges = [
            f"  {where(paths[a], line)} imports {b}"
            for a in component
            for b, line in sorted(graph[a].items())
            if b in members
        ]
        report.append(" <-> ".join(component) + "\n" + "\n".join(edges))
    assert report == [], "import cycles (type-only and function-local imports count):\n" + "\n".join(report)


# --- no module over 600 lines ------------------------------------------------------------

MAX_LINES = 600
# Being split by their owners; the integrator empties this once those splits are merged.
STILL_SPLITTING: set[str] = set()


def test_no_module_is_over_the_line_limit() -> None:
    too_long = []
    for module in MODULES:
        rel = module.path.relative_to(REPO).as_posix()
        count = len(module.path.read_text(encoding="utf-8").splitlines())
        if count > MAX_LINES and rel not in STILL_SPLITTING:
            too_long.append(f"{rel}: {count} lines")
    assert too_long == [], f"split these by concern into modules of at most {MAX_LINES} lines"


def test_test_modules_share_helpers_instead_of_importing_each_other() -> None:
    """tests/: no test_*.py imports another test_*.py (shared code lives in tests/helpers.py,
    tests/conftest.py and the support modules), and each shared helper is defined once."""
    tests_dir = REPO / "tests"
    shared = ("finding", "free_port", "git")
    test_modules = {p.stem for p in tests_dir.glob("test_*.py")}
    bad: list[str] = []
    defined: dict[str, list[str]] = {name: [] for name in shared}
    for path in sorted(tests_dir.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        rel = path.relative_to(REPO)
        for node in tree.body:  # top-level definitions (methods such as Scratch.git are their class's)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in shared:
                defined[node.name].append(str(rel))
        if not path.name.startswith("test_"):
            continue
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level:  # from . import test_x, from .test_x import y
                    targets = [f"tests.{module}"] if module else [f"tests.{a.name}" for a in node.names]
                elif module == "tests":  # from tests import test_x
                    targets = [f"tests.{a.name}" for a in node.names]
                else:
                    targets = [module]
            for target in targets:
                parts = target.split(".")
                if parts[0] == "tests" and len(parts) > 1 and parts[1] in test_modules:
                    bad.append(f"{rel}:{node.lineno} imports {target}")
    assert bad == [], "move what is shared to tests/helpers.py or tests/conftest.py"
    twice = {name: where for name, where in defined.items() if len(where) > 1}
    assert twice == {}, "use the one in tests/helpers.py (parameters for other defaults)"
