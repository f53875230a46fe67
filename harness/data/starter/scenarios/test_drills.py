"""Binds this project's features: `pytest scenarios/` and `harness run` run them alike.

The steps and the `drill` fixture come from the harness's pytest plugin, which the
pg-chaos-harness package installs.
"""

from pytest_bdd import scenarios

scenarios("../features")
