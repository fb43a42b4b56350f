"""The pre-commit / plain git hook front end over the gemma-review engine.

Installed as ``gemma_review.hooks`` (the folder stays at the top of the repository).
``gemma_review.hooks.pre_commit.run_hook`` is what ``gemma-review hook`` runs (pre-commit's
``entry``); ``gemma_review.hooks.install.install_hook`` / ``uninstall_hook`` back
``gemma-review install-hook`` / ``uninstall-hook``.
"""
