"""Binds the backup and recovery features."""

from pytest_bdd import scenarios

scenarios("backup_recovery")
