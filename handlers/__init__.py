"""Thin PTB callbacks. ``register(app)`` is the single ordered list of handlers."""
