"""``meetbridge`` for pyinstrument: uvicorn re-raises the SIGTERM it caught once it has shut down,
which would kill the process before pyinstrument writes its report; here that signal exits instead."""

from __future__ import annotations

import signal
import sys

from meetbridge.cli import main

if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    main()
