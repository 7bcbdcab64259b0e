"""``python -m hftos.sched``: the OSTEP-compatible command line (see :mod:`hftos.sched.ostep`)."""

from __future__ import annotations

import sys

from .ostep import main

if __name__ == "__main__":
    sys.exit(main())
