"""relmask's built-in plugins. Each module is registered exactly like a third-party plugin would be: they are
declared in relmask's pyproject.toml under the entry-point group ``relmask.builtin`` (core imports none of them)."""
