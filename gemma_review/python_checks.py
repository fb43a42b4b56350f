"""Python behaviour checks for a fix: compile, pyflakes before/after, and a binding check.

pyflakes, not ruff: it runs in process on the ``ast`` we already built (no subprocess per
fix, which would cost more than the whole 50 ms budget), it is pure Python with no
dependencies, and it is the PyCQA checker that flake8's F-codes come from. Its messages
carry the names involved, so "before" and "after" can be compared name by name.
"""

from __future__ import annotations

import ast
import copy
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

# Messages that mean "this will fail at run time" wherever they appear.
_UNDEFINED = ("UndefinedName", "UndefinedLocal", "UndefinedExport")
# Messages that are only the fix's fault when they point into the replaced lines.
_REGION = {
    "RedefinedWhileUnused": "redefines {0!r} before it is used",
    "UnusedImport": "adds an unused import {0}",
    "ImportShadowedByLoopVar": "shadows the import {0!r} with a loop variable",
    "DuplicateArgument": "repeats the argument {0!r}",
    "ReturnOutsideFunction": "puts 'return' outside a function",
    "YieldOutsideFunction": "puts 'yield' outside a function",
    "BreakOutsideLoop": "puts 'break' outside a loop",
    "ContinueOutsideLoop": "puts 'continue' outside a loop",
}


@dataclass(frozen=True)
class _Report:
    tree: ast.Module | None
    error: str | None  # why the text does not compile
    undefined: Counter[str]  # undefined names, by name
    messages: tuple[tuple[str, int, tuple[object, ...]], ...]  # (kind, line, args)


def _error(exc: Exception) -> str:
    line = getattr(exc, "lineno", None)
    msg = getattr(exc, "msg", str(exc))
    return f"{msg} (line {line})" if line else msg


def _analyse(tree: ast.Module, path: str) -> _Report:
    try:
        # compile() also finds what the parser lets through ('return' outside a function,
        # 'nonlocal' without a binding, duplicate arguments).
        compile(tree, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        return _Report(None, _error(exc), Counter(), ())
    from pyflakes import checker  # lazy: only Python fixes need it

    undefined: Counter[str] = Counter()
    messages = []
    for m in checker.Checker(tree, filename=path).messages:
        kind = type(m).__name__
        if kind in _UNDEFINED:
            undefined[str(m.message_args[0])] += 1
        messages.append((kind, m.lineno, tuple(m.message_args)))
    return _Report(tree, None, undefined, tuple(messages))


@lru_cache(maxsize=16)
def _parse(text: str, path: str) -> ast.Module | str:
    try:
        return ast.parse(text, filename=path)
    except (SyntaxError, ValueError) as exc:
        return _error(exc)


@lru_cache(maxsize=64)
def _report(text: str, path: str) -> _Report:
    tree = _parse(text, path)
    return _Report(None, tree, Counter(), ()) if isinstance(tree, str) else _analyse(tree, path)


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _first_line(stmt: ast.stmt) -> int:
    decorators = getattr(stmt, "decorator_list", None) or []
    return min([stmt.lineno, *(d.lineno for d in decorators)])


def _stub(stmt: ast.stmt, shift: int = 0) -> ast.stmt:
    """A definition with its body replaced by ``pass``: it still binds its name (and its
    decorators, defaults and annotations are still read), but costs nothing to check."""
    if not isinstance(stmt, _DEFS):
        if shift:
            stmt = copy.deepcopy(stmt)
            ast.increment_lineno(stmt, shift)
        return stmt
    stub = copy.copy(stmt)
    stub.body = [ast.Pass(lineno=stmt.lineno, col_offset=stmt.col_offset + 4, end_lineno=stmt.lineno, end_col_offset=stmt.col_offset + 8)]
    if shift:
        stub = copy.deepcopy(stub)
        ast.increment_lineno(stub, shift)
    return stub


@lru_cache(maxsize=64)
def _before_part(text: str, path: str, i0: int, i1: int) -> _Report:
    tree = _parse(text, path)
    assert not isinstance(tree, str)
    body = tree.body
    module = ast.Module(body=[_stub(s) for s in body[:i0]] + body[i0 : i1 + 1] + [_stub(s) for s in body[i1 + 1 :]], type_ignores=[])
    return _analyse(module, path)


def _reports(path: str, before: str, after: str, start: int, end: int, new_end: int) -> tuple[_Report, _Report] | None:
    """Reports for the file before and after, or None when the file did not parse before.

    When the fix lies inside top-level definitions, only those are checked in full; the
    other definitions are stubs that still bind their names (a 300-line file costs what the
    function being fixed costs). A fix in module-level code checks the whole file.
    """
    tree = _parse(before, path)
    if isinstance(tree, str):
        return None
    body = tree.body
    touched = [i for i, st in enumerate(body) if _first_line(st) <= end and (st.end_lineno or st.lineno) >= start]
    if not touched or not all(isinstance(body[i], _DEFS) for i in touched):
        return _report(before, path), _report(after, path)
    i0, i1 = touched[0], touched[-1]
    lo = min(_first_line(body[i0]), start)
    hi = max(body[i1].end_lineno or body[i1].lineno, end)
    shift = new_end - end
    piece = "\n".join(after.split("\n")[lo - 1 : hi + shift])
    try:
        part = ast.parse(piece, filename=path)
    except (SyntaxError, ValueError) as exc:
        exc.lineno = (getattr(exc, "lineno", None) or 1) + lo - 1
        return _report(before, path), _Report(None, _error(exc), Counter(), ())
    ast.increment_lineno(part, lo - 1)
    # Definitions below keep their line numbers unless they would fall inside the fixed lines
    # (only region lines are compared, so only those few need moving).
    after_stubs = [_stub(s, shift if shift > 0 and s.lineno <= new_end else 0) for s in body[i1 + 1 :]]
    module = ast.Module(body=[_stub(s) for s in body[:i0]] + part.body + after_stubs, type_ignores=[])
    return _before_part(before, path, i0, i1), _analyse(module, path)


def check(path: str, before: str, after: str, start: int, end: int, new_end: int) -> str | None:
    """Why replacing lines ``start..end`` of ``before`` (now ``start..new_end``) is unsafe, or None."""
    reports = _reports(path, before, after, start, end, new_end)
    if reports is None:
        return None  # already broken: the tree-sitter error count judges it
    old, new = reports
    if old.tree is None:
        return None
    if new.tree is None:
        return f"would not compile: {new.error}"
    for name, count in new.undefined.items():
        if count > old.undefined.get(name, 0):
            return f"introduces undefined name {name!r}"
    before_region = Counter((k, a) for k, line, a in old.messages if start <= line <= end)
    for kind, line, args in new.messages:
        if kind in _REGION and start <= line <= new_end:
            if before_region[(kind, args)] > 0:
                before_region[(kind, args)] -= 1
                continue
            shown = args[0] if kind != "UnusedImport" else str(args[0]).strip("'")
            return _REGION[kind].format(shown)
    return unreachable(new.tree, start, new_end, old.tree, end) or unbound(old.tree, new.tree, start, end, new_end)


_TERMINAL = {ast.Return: "return", ast.Raise: "raise", ast.Break: "break", ast.Continue: "continue"}


def _near(tree: ast.AST, lo: int, hi: int):
    """Nodes of ``tree`` whose lines overlap lo..hi (subtrees wholly outside are not entered)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        first = getattr(node, "lineno", None)
        if first is not None and (first > hi or (getattr(node, "end_lineno", None) or first) < lo):
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _dead(tree: ast.AST, lo: int, hi: int) -> list[tuple[int, str]]:
    """(line, after what) for statements in lines lo..hi that follow return/raise/break/continue."""
    out = []
    for node in _near(tree, lo, hi):
        for name in ("body", "orelse", "finalbody"):
            body = getattr(node, name, None)
            if not isinstance(body, list):
                continue
            for prev, stmt in zip(body, body[1:]):
                word = _TERMINAL.get(type(prev))
                if word and isinstance(stmt, ast.stmt) and lo <= stmt.lineno <= hi:
                    out.append((stmt.lineno, word))
    return out


def unreachable(new_tree: ast.Module, start: int, new_end: int, old_tree: ast.Module, end: int) -> str | None:
    """Code the fix puts after a return (a nested ``def`` that was meant to be top level, say)."""
    if len(_dead(new_tree, start, new_end)) > len(_dead(old_tree, start, end)):
        line, word = _dead(new_tree, start, new_end)[0]
        return f"puts unreachable code after '{word}' (line {line} of the fixed file)"
    return None


# --- names the replaced lines bound and the rest of the scope still uses -------------------

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _scope_at(tree: ast.Module, start: int, end: int) -> ast.AST:
    """The innermost function holding all of lines start..end, else the module."""
    best: ast.AST = tree
    for node in _near(tree, start, end):
        if isinstance(node, _SCOPES) and node.lineno < start and (node.end_lineno or 0) >= end:
            if best is tree or node.lineno > best.lineno:  # type: ignore[attr-defined]
                best = node
    return best


def _own_nodes(scope: ast.AST):
    """Nodes that belong to ``scope`` itself: nested functions, classes and comprehensions
    are not entered (their names are their own), except for what they bind here."""
    stack = list(ast.iter_child_nodes(scope))
    if isinstance(scope, _SCOPES):
        stack = list(scope.body) if isinstance(scope.body, list) else [scope.body]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (*_SCOPES, ast.ClassDef)):
            stack.extend(node.decorator_list if not isinstance(node, ast.Lambda) else [])
            continue
        if isinstance(node, _COMPREHENSIONS):
            # Only a walrus inside a comprehension binds in the enclosing scope.
            stack.extend(n for n in ast.walk(node) if isinstance(n, ast.NamedExpr))
            stack.extend(gen.iter for gen in node.generators[:1])
            continue
        stack.extend(ast.iter_child_nodes(node))


def _bindings(scope: ast.AST) -> list[tuple[str, int]]:
    """(name, line) for every binding made in ``scope`` (augmented assignment needs one already)."""
    out: list[tuple[str, int]] = []
    if isinstance(scope, _SCOPES):
        a = scope.args
        for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]:
            if arg is not None:
                out.append((arg.arg, 0))
    for node in _own_nodes(scope):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.append((node.id, node.lineno))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.append((node.name, node.lineno))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                out.append(((alias.asname or alias.name).split(".")[0], node.lineno))
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.append((node.name, node.lineno))
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            out.extend((name, 0) for name in node.names)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            out.append((node.name, node.lineno))
        elif isinstance(node, ast.MatchMapping) and node.rest:
            out.append((node.rest, node.lineno))
    # An augmented assignment (x += 1) fails unless x is bound already: it is a use, not a binding.
    aug = {(n.target.id, n.lineno) for n in _own_nodes(scope) if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)}
    return [b for b in out if b not in aug]


def _uses(scope: ast.AST, name: str) -> list[int]:
    """Lines that read ``name`` in ``scope`` or in what it nests (closures read it too)."""
    lines = []
    stack = [scope]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
            lines.append(node.lineno)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            lines.append(node.lineno)
        if isinstance(node, _COMPREHENSIONS) and any(
            isinstance(t, ast.Name) and t.id == name for g in node.generators for t in ast.walk(g.target)
        ):
            stack.append(node.generators[0].iter)  # the rest reads the comprehension's own variable
            continue
        stack.extend(ast.iter_child_nodes(node))
    return lines


def _targets(node: ast.AST) -> set[str]:
    """Names a simple statement binds in its own scope."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.With, ast.AsyncWith, ast.Expr, ast.Return)):
        if isinstance(node, ast.AnnAssign) and node.value is None:
            return set()
        parts: list[ast.AST] = [node] if not isinstance(node, (ast.With, ast.AsyncWith)) else list(node.items)
        out: set[str] = set()
        while parts:
            n = parts.pop()
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                out.add(n.id)
            elif isinstance(n, (*_COMPREHENSIONS, ast.Lambda)):
                parts.extend(w.target for w in ast.walk(n) if isinstance(w, ast.NamedExpr))
                continue
            parts.extend(ast.iter_child_nodes(n))
        return out
    return set()


def _exits(body: list[ast.stmt]) -> bool:
    return bool(body) and isinstance(body[-1], (ast.Raise, ast.Return, ast.Continue, ast.Break))


def _always_binds(body: list[ast.stmt], name: str) -> bool:
    """Whether running ``body`` to its end surely binds ``name`` (loops may not run at all)."""
    for stmt in body:
        if name in _targets(stmt):
            return True
        if isinstance(stmt, (ast.With, ast.AsyncWith)) and _always_binds(stmt.body, name):
            return True
        if isinstance(stmt, ast.If) and all(_always_binds(b, name) or _exits(b) for b in (stmt.body, stmt.orelse)):
            return True
        if isinstance(stmt, ast.Try) and (
            (_always_binds(stmt.body, name) or _always_binds(stmt.finalbody, name))
            and all(_always_binds(h.body, name) or _exits(h.body) for h in stmt.handlers)
        ):
            return True
    return False


def _region_statements(scope: ast.AST, lo: int, hi: int) -> list[ast.stmt]:
    """The outermost statements of ``scope`` that start in lines lo..hi."""
    inside = [n for n in _own_nodes(scope) if isinstance(n, ast.stmt) and lo <= n.lineno <= hi]
    return [
        n for n in inside
        if not any(o is not n and o.lineno <= n.lineno <= (o.end_lineno or o.lineno) and o.lineno < n.lineno for o in inside)
    ]


def unbound(old_tree: ast.Module, new_tree: ast.Module, start: int, end: int, new_end: int) -> str | None:
    """A name the replaced lines bound, still used after them, that nothing binds any more
    (or that the fix binds only on some paths where the code it replaced always bound it)."""
    old_scope = _scope_at(old_tree, start, end)
    new_scope = _scope_at(new_tree, start, new_end)
    old_region = [(n, line) for n, line in _bindings(old_scope) if start <= line <= end]
    old_bound = {n for n, _ in old_region}
    new_all = _bindings(new_scope)
    new_region = [(n, line) for n, line in new_all if start <= line <= new_end]
    new_bound = {n for n, _ in new_region}
    earlier = {n for n, line in new_all if line < start}  # parameters are line 0
    old_stmts = _region_statements(old_scope, start, end)
    new_stmts = _region_statements(new_scope, start, new_end)
    shift = new_end - end
    for name in sorted(old_bound - earlier):
        if name in new_bound:
            if _always_binds(new_stmts, name) or not _always_binds(old_stmts, name):
                continue
        old_uses = [ln for ln in _uses(old_scope, name) if ln > end]
        if not old_uses:
            continue
        new_uses = [ln for ln in _uses(new_scope, name) if ln > new_end]
        if new_uses:
            shown = min(new_uses) - shift
            if name in new_bound:
                return f"binds {name!r} only on some paths; line {shown} uses it"
            return f"leaves {name!r} unbound; line {shown} still uses it"
    return None
