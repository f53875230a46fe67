"""Reporting: turn a finished run's allure-pytest-bdd results into a static HTML report."""

from harness.report.render import ALLURE_CLI, allure_cli, render_allure

__all__ = ["ALLURE_CLI", "allure_cli", "render_allure"]
