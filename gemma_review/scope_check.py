"""A conservative tree-sitter binding check for JavaScript, TypeScript, Go and Rust fixes.

Question asked: does every identifier that the replaced code declared, and that the rest
of the enclosing function reads, still have a declaration in scope after the fix? Scopes
are approximated by blocks (``let``/``const``/``:=``/``let`` are block scoped in all four;
``var`` and function parameters by the function). A use the approximation could not
resolve before the fix is not judged after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

_JS_FUNCS = {
    "function_declaration", "function_expression", "function", "arrow_function", "method_definition",
    "generator_function_declaration", "generator_function",
}
FUNCTIONS = {
    "javascript": _JS_FUNCS,
    "typescript": _JS_FUNCS,
    "tsx": _JS_FUNCS,
    "go": {"function_declaration", "method_declaration", "func_literal"},
    "rust": {"function_item", "closure_expression"},
}
_JS_BLOCKS = {"statement_block", "for_statement", "for_in_statement", "catch_clause", "switch_body", "class_body"}
BLOCKS = {
    "javascript": _JS_BLOCKS,
    "typescript": _JS_BLOCKS,
    "tsx": _JS_BLOCKS,
    "go": {
        "block", "for_statement", "if_statement", "expression_switch_statement", "type_switch_statement",
        "expression_case", "type_case", "default_case", "communication_case", "select_statement",
    },
    "rust": {"block", "for_expression", "match_arm", "if_expression", "while_expression", "let_chain"},
}
_IDENT = {"identifier", "shorthand_property_identifier_pattern"}
_USE = {"identifier", "shorthand_property_identifier"}


def _pattern_names(node: Any) -> Iterator[Any]:
    """Identifier nodes a declaration pattern binds (destructuring included, types and paths not)."""
    if node is None:
        return
    if node.type in _IDENT:
        yield node
        return
    for i, child in enumerate(node.children):
        field = node.field_name_for_child(i)
        if field in ("type", "value", "default", "function", "path", "key", "right"):
            continue
        if node.type in ("pair_pattern",) and field != "value":
            continue
        if node.type in ("tuple_struct_pattern", "struct_pattern") and i == 0:
            continue  # Some(x): `Some` is a path
        yield from _pattern_names(child)


def _bound_by(lang: str, node: Any) -> tuple[list[Any], bool]:
    """(identifiers declared by ``node``, whether they are function scoped)."""
    t = node.type
    f = node.child_by_field_name
    if lang in ("javascript", "typescript", "tsx"):
        if t == "variable_declarator":
            decl = node.parent
            return list(_pattern_names(f("name"))), decl is not None and decl.type == "variable_declaration"
        if t in ("function_declaration", "generator_function_declaration", "class_declaration"):
            return ([f("name")] if f("name") is not None else []), t != "class_declaration"
        if t == "for_in_statement":
            return list(_pattern_names(f("left"))), False
        if t == "catch_clause":
            return list(_pattern_names(f("parameter"))), False
        if t in ("formal_parameters",):
            out = []
            for child in node.named_children:
                target = child.child_by_field_name("pattern") or child
                out.extend(_pattern_names(target))
            return out, True
        if t == "arrow_function" and f("parameter") is not None:
            return [f("parameter")], True
    elif lang == "go":
        if t == "short_var_declaration":
            return [n for n in f("left").named_children if n.type == "identifier"], False
        if t in ("var_spec", "const_spec"):
            return [c for i, c in enumerate(node.children) if node.field_name_for_child(i) == "name"], False
        if t == "range_clause" and f("left") is not None:
            return [n for n in f("left").named_children if n.type == "identifier"], False
        if t == "parameter_declaration":
            return [c for i, c in enumerate(node.children) if node.field_name_for_child(i) == "name"], True
        if t == "function_declaration":
            return [f("name")], True
    elif lang == "rust":
        if t in ("let_declaration", "let_condition", "for_expression", "parameter", "match_pattern"):
            return list(_pattern_names(f("pattern") if t != "match_pattern" else node)), t == "parameter"
        if t == "closure_parameters":
            return [n for c in node.named_children for n in _pattern_names(c.child_by_field_name("pattern") or c)], True
        if t == "function_item":
            return [f("name")], True
    return [], False


@dataclass(frozen=True)
class Binding:
    name: str
    start: tuple[int, int]  # where it is declared (row, column)
    scope: tuple[tuple[int, int], tuple[int, int]]  # the node it is visible in
    func: tuple[int, int]  # start of the function it belongs to ((-1, -1): top level)


def _ancestor(node: Any, types: set[str]) -> Any:
    node = node.parent
    while node is not None and node.type not in types:
        node = node.parent
    return node


def bindings(lang: str, root: Any) -> tuple[list[Binding], list[Any]]:
    """Every declaration in the tree and every identifier that is read."""
    funcs, blocks = FUNCTIONS[lang], BLOCKS[lang]
    out: list[Binding] = []
    declared: set[tuple[int, int]] = set()
    uses: list[Any] = []
    stack = [root]
    while stack:
        node = stack.pop()
        names, function_scoped = _bound_by(lang, node)
        for ident in names:
            if ident is None:
                continue
            fn = _ancestor(ident, funcs)
            if function_scoped or node.type in ("formal_parameters", "parameter_declaration", "parameter", "closure_parameters"):
                scope = fn if node.type not in ("function_declaration", "generator_function_declaration", "function_item") else _ancestor(node, funcs | blocks)
            else:
                scope = node if node.type in blocks else _ancestor(ident, blocks | funcs)
            if node.type in ("function_declaration", "generator_function_declaration", "function_item"):
                fn = _ancestor(node, funcs)
            scope = scope if scope is not None else root
            out.append(Binding(
                ident.text.decode("utf-8", "surrogateescape"),
                ident.start_point,
                (scope.start_point, scope.end_point),
                fn.start_point if fn is not None else (-1, -1),
            ))
            declared.add(ident.start_point)
        if node.type in _USE and node.start_point not in declared:
            uses.append(node)
        stack.extend(node.children)
    uses = [u for u in uses if u.start_point not in declared]
    return out, uses


def _visible(b: Binding, at: tuple[int, int], func: tuple[int, int]) -> bool:
    (lo, hi) = b.scope
    return lo <= at <= hi and b.start <= at and b.func >= func


def _region_function(lang: str, root: Any, start: int, end: int) -> Any:
    """The innermost function that holds rows start..end and starts above them, else None."""
    node = root.descendant_for_point_range((start, 0), (start, 0))
    while node is not None:
        if node.type in FUNCTIONS[lang] and node.start_point[0] < start and node.end_point[0] >= end:
            return node
        node = node.parent
    return None


def lost_binding(lang: str, old_root: Any, new_root: Any, start: int, end: int, new_end: int) -> str | None:
    """Why the fix of rows ``start..end`` (0-based; now ``start..new_end``) unbinds a used name."""
    if lang not in FUNCTIONS:
        return None
    shift = new_end - end
    old_b, old_uses = bindings(lang, old_root)
    in_region = {b.name for b in old_b if start <= b.start[0] <= end}
    if not in_region:
        return None
    fn = _region_function(lang, old_root, start, end)
    func = fn.start_point if fn is not None else (-1, -1)
    last = fn.end_point if fn is not None else (1 << 60, 0)
    new_b: list[Binding] | None = None
    for use in sorted(old_uses, key=lambda u: u.start_point):
        row = use.start_point[0]
        if row <= end or use.start_point > last:
            continue  # only what follows the fix, inside its function, can lose a declaration made in it
        name = use.text.decode("utf-8", "surrogateescape")
        if name not in in_region:
            continue
        if not any(_visible(b, use.start_point, func) for b in old_b if b.name == name):
            continue  # declared outside the function, or the approximation cannot tell
        if new_b is None:
            new_b, _ = bindings(lang, new_root)
        at = (row + shift, use.start_point[1])
        if not any(_visible(b, at, func) for b in new_b if b.name == name):
            return f"leaves {name!r} undeclared; line {row + 1} still uses it"
    return None
