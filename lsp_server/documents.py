"""pygls' document store with the protocol's line model (see :mod:`.lines`).

pygls' ``TextDocument.lines`` is ``str.splitlines``, so after an incremental edit below a
form feed or U+2028 it splices the edit into the wrong line, and the server's copy of
the buffer stops being the editor's. These classes apply edits by offset instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

from lsprotocol import types
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument, Workspace

from . import lines


class LspTextDocument(TextDocument):
    @property
    def lines(self) -> Sequence[str]:
        return tuple(lines.split_keepends(self.source))

    def _apply_incremental_change(self, change: types.TextDocumentContentChangePartial) -> None:
        start, end = change.range.start, change.range.end
        self._source = lines.apply_change(self.source, (start.line, start.character), (end.line, end.character), change.text)

    def offset_at_position(self, client_position: types.Position) -> int:
        return lines.offset_at(self.source, client_position.line, client_position.character)


class LspWorkspace(Workspace):
    def _create_text_document(
        self,
        doc_uri: str,
        source: Optional[str] = None,
        version: Optional[int] = None,
        language_id: Optional[str] = None,
    ) -> TextDocument:
        return LspTextDocument(
            doc_uri,
            source=source,
            version=version,
            language_id=language_id,
            sync_kind=self._sync_kind,
            position_codec=self._position_codec,
        )


def replace_workspace(old: Workspace) -> LspWorkspace:
    """An empty :class:`LspWorkspace` set up like ``old`` (which pygls has just made)."""
    return LspWorkspace(old._root_uri, old._sync_kind, list(old.folders.values()), old.position_encoding)


def open_text(workspace: Workspace, uri: str) -> Any:
    """The open document at ``uri``, or None when the editor has not opened it."""
    from urllib.parse import unquote

    return workspace.text_documents.get(unquote(uri))


def path_of(uri: str) -> Path | None:
    """The resolved file path of a ``file:`` URI; None for any other scheme."""
    if not uri.startswith("file:"):
        return None
    fs = to_fs_path(uri)
    return Path(fs).resolve() if fs else None
