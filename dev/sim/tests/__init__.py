"""The local stack's unit tests: `dev/.venv/bin/python -m pytest dev/sim/tests` (dev/test runs them)."""
