"""Binds the monitoring features."""

from pytest_bdd import scenarios

scenarios("monitoring")
