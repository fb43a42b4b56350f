"""The gemma-review language server: adapts the review engine to LSP (pygls 2)."""
