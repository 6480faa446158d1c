"""Layer 1: what every other layer agrees on (models, the channel contract, seams, settings).

Imports nothing of the project's own.
"""
