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
	.venv/bin/pytest -m "not slow" --durations=25

test-all: setup
	.venv/bin/pytest

report:
	$(HARNESS) report

clean:
	$(HARNESS) clean

# Generated documentation: the README's step tables (between <!-- steps:begin/end -->) and
# docs/environment.md; unit tests fail when either drifts from the code.
.PHONY: docs
docs:
	.venv/bin/python -m harness.steps.catalog --write README.md
	.venv/bin/python -m harness.environment_reference --write docs/environment.md
