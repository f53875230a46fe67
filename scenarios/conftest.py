"""The resilience suite. The step library comes from the `harness` pytest plugin (entry point)."""
