"""Binds the high-availability features."""

from pytest_bdd import scenarios

scenarios("high_availability")
