"""Register tables (placeholder until the register models land)."""
