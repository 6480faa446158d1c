"""Layer 2: the system of record. Every MongoDB call of the project lives in this package."""
