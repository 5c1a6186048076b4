"""The local stack's unit tests: `dev/.venv/bin/python -m pytest dev/localstack/tests` (dev/test runs them)."""
