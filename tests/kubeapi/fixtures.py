"""pytest fixtures of the test API server (filled in by its owner)."""
