"""Which language a file is, and its tree-sitter grammar (loaded lazily, once)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import PurePath
from typing import Any

EXTENSIONS = {
    ".py": "python", ".pyi": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
}

# Nodes that make a good review unit: the smallest of these around a change.
DEFINITIONS = {
    "python": {"function_definition", "class_definition", "decorated_definition"},
    "javascript": {
        "function_declaration", "generator_function_declaration", "method_definition",
        "class_declaration", "lexical_declaration", "variable_declaration", "export_statement",
        "function_expression", "arrow_function",
    },
    "go": {"function_declaration", "method_declaration", "type_declaration"},
    "rust": {"function_item", "impl_item", "struct_item", "enum_item", "trait_item", "mod_item"},
}
DEFINITIONS["typescript"] = DEFINITIONS["javascript"] | {
    "interface_declaration", "type_alias_declaration", "enum_declaration", "abstract_class_declaration",
}
DEFINITIONS["tsx"] = DEFINITIONS["typescript"]


def language_of(path: str) -> str | None:
    """Tree-sitter language name, or None for other text (reviewed in line windows)."""
    return EXTENSIONS.get(PurePath(path).suffix.lower())


def display_language(lang: str | None, path: str) -> str:
    if lang == "tsx":
        return "typescript"
    if lang:
        return lang
    suffix = PurePath(path).suffix.lstrip(".")
    return suffix or "text"


@lru_cache(maxsize=None)
def parser_for(lang: str) -> Any:
    """A tree-sitter parser; grammars come from the per-language wheels (they work offline)."""
    import tree_sitter

    if lang == "python":
        import tree_sitter_python as mod

        capsule = mod.language()
    elif lang == "javascript":
        import tree_sitter_javascript as mod

        capsule = mod.language()
    elif lang in ("typescript", "tsx"):
        import tree_sitter_typescript as mod

        capsule = mod.language_tsx() if lang == "tsx" else mod.language_typescript()
    elif lang == "go":
        import tree_sitter_go as mod

        capsule = mod.language()
    elif lang == "rust":
        import tree_sitter_rust as mod

        capsule = mod.language()
    else:
        raise KeyError(lang)
    return tree_sitter.Parser(tree_sitter.Language(capsule))


def parse(lang: str, text: str) -> Any:
    return parser_for(lang).parse(text.encode("utf-8", "surrogateescape"))


def syntax_errors(lang: str, text: str) -> int:
    tree = parse(lang, text)
    if not tree.root_node.has_error:
        return 0
    count = 0
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            count += 1
        if node.has_error:
            stack.extend(node.children)
    return count
