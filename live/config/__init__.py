"""The config service: versioned keys and values with long-poll watches and per-environment files.

:mod:`live.config.store` (the two layers and their versions), :mod:`live.config.environments` (the
files), :mod:`live.config.app` (the HTTP API), :mod:`live.config.preparation` (what ``live up``
prepares), :mod:`live.config.commands` (``servicelab live config``). Nothing is imported here, so
that the CLI does not pay for FastAPI.
"""
