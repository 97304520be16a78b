"""Question banks: models, validation, import/export in several formats, and draws.

This package imports none of the engine's other packages.
"""
