#!/usr/bin/env python3
"""The local stack's entrypoint, from any directory: `python dev/local.py serve --help`. The stack
itself is the dev/sim package."""
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from sim.cli import main

    sys.exit(main())
