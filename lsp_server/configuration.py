"""Settings: the workspace's roots, the client's configuration, each document's settings.

Settings come from three places, merged by :class:`~.options.EditorOptions`:
``initializationOptions``, ``workspace/configuration`` (asked once the client is
initialized, and again when it says the configuration changed) and each project's
``.gemma-review.toml`` (read by the engine hub for each document).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types

from gemma_review.config import Settings
from gemma_review.errors import ConfigError

from . import options
from .documents import path_of
from .engines import Target
from .host import Host
from .state import DocState

CONFIG_WAIT_SECONDS = 5.0  # a client that never answers workspace/configuration must not stall reviews


def workspace_roots(params: types.InitializeParams) -> list[Path]:
    """The workspace folders, else the root URI, else the (deprecated) root path."""
    roots: list[Path] = []
    for folder in params.workspace_folders or []:
        path = path_of(folder.uri)
        if path is not None:
            roots.append(path)
    if not roots and params.root_uri:
        path = path_of(params.root_uri)
        if path is not None:
            roots.append(path)
    if not roots and params.root_path:
        roots.append(Path(params.root_path).resolve())
    return roots


async def initialized(ls: Host) -> None:
    """Show the model, fetch the client's settings, then run the reviews asked for meanwhile."""
    try:
        model = ls.hub.settings_for(Target(None, "", None), ls.editor).settings.model
    except ConfigError as exc:
        ls.report_problem(exc, "settings")
        model = Settings().model
    ls.status.update(model=model)
    ls.refresh_status()
    await ls.fetch_configuration()
    ls.config_ready = True
    waiting, ls.waiting = ls.waiting, {}
    for uri, (reason, scope) in waiting.items():
        if uri in ls.docs:
            settings = ls.doc_settings(ls.docs[uri])
            if reason == "command" or settings.trigger != "manual":
                ls.request_review(uri, reason, scope)


async def did_change_configuration(ls: Host, params: types.DidChangeConfigurationParams) -> None:
    before = ls.client_config
    pushed = options.pushed_settings(params.settings)
    if pushed is not None:
        parsed, warnings = options.parse(pushed, "workspace/didChangeConfiguration")
        ls.warn(warnings)
        ls.client_config = parsed
    else:
        await ls.fetch_configuration()
    # Editors send this for every settings change, most of them to other sections:
    # only a change of ours re-reviews the open files.
    if ls.client_config == before:
        ls.log("workspace/didChangeConfiguration: gemma-review settings unchanged", types.MessageType.Log)
    elif ls.config_ready:
        ls.settings_changed()


def doc_settings(ls: Host, state: DocState) -> Settings:
    try:
        loaded = ls.hub.settings_for(state.target, ls.editor)
        state.settings = loaded.settings
        ls.warn_once(loaded.warnings)
    except ConfigError as exc:
        ls.report_problem(exc, state.target.shown)
        state.settings = None
    return state.settings or Settings()


async def fetch_configuration(ls: Host) -> None:
    if not ls.features.configuration:
        return
    try:
        result = await asyncio.wait_for(
            ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section=options.SECTION)])
            ),
            CONFIG_WAIT_SECONDS,
        )
    except Exception as exc:  # noqa: BLE001 - a client bug must not stop reviews
        ls.log(f"workspace/configuration failed ({exc!r}); using initializationOptions", types.MessageType.Warning)
        return
    raw = result[0] if isinstance(result, (list, tuple)) and result else None
    parsed, warnings = options.parse(raw, "workspace/configuration")
    ls.warn(warnings)
    ls.client_config = parsed


def settings_changed(ls: Host) -> None:
    """New settings: new engines, problems may be fixed, every open document is reviewed again."""
    ls.hub.retire_all()
    ls.problems_shown.clear()
    ls.problem = None
    ls.unavailable.clear()  # the new settings' reviews say again whether their model answers
    assert ls.reviewer is not None
    ls.reviewer.cancel_all()
    for state in ls.docs.values():
        settings = ls.doc_settings(state)
        if settings.trigger != "manual":
            ls.request_review(state.uri, "config")
    ls.refresh_status()
