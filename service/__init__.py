"""Layer 5: the service that wires the layers below (``create_app()``, the CLI, pages, stand-ins)."""
