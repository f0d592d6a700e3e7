"""The rules of contact as pure functions: what may happen, when, and which rule says no."""
