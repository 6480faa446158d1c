"""The handoff domain's refusals; ``handoff.web`` maps each kind to an HTTP status."""

from __future__ import annotations


class HandoffError(Exception):
    """An operation the domain refuses; subclasses say why (the API maps them to 4xx)."""


class NotFound(HandoffError):
    pass


class NotPermitted(HandoffError):
    pass


class Conflict(HandoffError):
    pass


class Invalid(HandoffError):
    pass
