"""The handoff engine: where a young person reaches a human."""
