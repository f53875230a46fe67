"""Binds the disaster-recovery features."""

from pytest_bdd import scenarios

scenarios("disaster_recovery")
