"""``python -m bpfkit``."""

import gc
import sys

from .cli import main

status = main()
gc.freeze()  # exiting now: the interpreter's last collections would only walk live objects (tens of ms)
sys.exit(status)
