"""The handoff engine's web part: the console API, the console pages and request-time auth."""
