"""The pre-commit / plain git hook front end over the gemma-review engine.

``hooks.pre_commit.main`` is what ``gemma-review hook`` runs (pre-commit's ``entry``);
``hooks.install.main`` backs ``gemma-review install-hook`` / ``uninstall-hook``.
"""
