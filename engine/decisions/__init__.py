"""What to do next for an account: decide, the grid of candidates, route, coalescing, take-backs."""
