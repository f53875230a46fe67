"""Commands of the ``harness`` CLI that live in their own modules (hooked into harness.cli)."""
