"""Per-account online features: pure `update(state, record) -> state` and `read`. No I/O."""
