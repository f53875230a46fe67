"""Commands of the ``harness`` CLI that live in their own modules (each hooked in by one line)."""
