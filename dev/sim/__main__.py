"""`python -m sim serve ...` from dev/: the same as `python dev/local.py serve ...`."""
import sys

from .cli import main

sys.exit(main())
