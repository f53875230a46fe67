"""Reporting: turn a finished run's allure-pytest-bdd results into a static HTML report."""

from harness.report.render import allure_cli, render_allure

__all__ = ["allure_cli", "render_allure"]
