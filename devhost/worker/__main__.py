"""`python -m devhost.worker`: a worker process, started by the host."""

from __future__ import annotations

import sys

from devhost.worker.main import main

if __name__ == "__main__":
    sys.exit(main())
