"""Commands of the ``harness`` CLI that live in their own modules (each has ``register(app)``)."""
