"""How graphrec starts Python children (the refresh job, torchrun and its workers)."""

from __future__ import annotations

import os


def child_env() -> dict[str, str]:
    """This process's environment with PYTHONSAFEPATH set: a child never puts its working directory on sys.path,
    so a folder named graphrec there (a source tree, a copied checkout) cannot shadow the installed package.
    The variable, unlike ``python -P``, reaches the processes the child starts in turn (torchrun's workers)."""
    return {**os.environ, "PYTHONSAFEPATH": "1"}
