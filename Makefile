# Entry points for people and CI. `make setup` is idempotent and quick when nothing is missing.
.PHONY: setup drill test test-all report clean

HARNESS := .venv/bin/harness

setup:
	bash scripts/setup

# A game-day drill: the primary failover scenario, then the HTML report.
drill: setup
	$(HARNESS) run features/high_availability/primary_failover.feature
	$(HARNESS) report

# The suite without the long-running (slow) tests; testpaths come from pyproject.toml.
test: setup
	.venv/bin/pytest -m "not slow"

test-all: setup
	.venv/bin/pytest

report:
	$(HARNESS) report

clean:
	$(HARNESS) clean
