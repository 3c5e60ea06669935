"""``python -m live.deploy.secrets [STATE_DIR]``: the secrets of a containerised stack, created once.

On a laptop ``live up`` writes a fresh registry token and token signing key at every start. A
deployment has no supervisor: compose runs this module as a one-shot service before the others, on
the volume they share (``secrets/`` of ``SERVICELAB_STATE_DIR``); for Kubernetes you run it locally
and load the files into a Secret (the header of ``k8s/kustomization.yaml`` shows how). Secrets that
exist are kept, so a second ``compose up`` neither logs users out nor orphans registered instances.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from live.auth.keys import PRIVATE_KEY_FILE, ensure_signing_key
from live.common.settings import read_secret, write_secret

__all__ = ["ensure_secrets"]


def ensure_secrets(state_dir: Path) -> list[str]:
    """Create the registry token and the signing key under ``state_dir/secrets`` unless present.

    Returns the names of the secrets created (empty when all were there already).
    """
    created = []
    if read_secret(state_dir, "registry-token") is None:
        write_secret(state_dir, "registry-token", secrets.token_urlsafe(32))
        created.append("registry-token")
    if not (state_dir / "secrets" / PRIVATE_KEY_FILE).exists():
        ensure_signing_key(state_dir)
        created.append(PRIVATE_KEY_FILE)
    return created


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        print("usage: python -m live.deploy.secrets [STATE_DIR]", file=sys.stderr)
        return 2
    target = argv[0] if argv else os.environ.get("SERVICELAB_STATE_DIR")
    if not target:
        print("name the state folder: an argument or SERVICELAB_STATE_DIR", file=sys.stderr)
        return 2
    created = ensure_secrets(Path(target))
    print(f"created {', '.join(created)}" if created else "all secrets present: kept them")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
