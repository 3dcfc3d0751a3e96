"""relmask's built-in plugins. Each module is registered exactly like a third-party plugin would be."""

DEFAULT_PLUGINS = (
    "relmask_plugins.maskers",
    "relmask_plugins.relevance",
    "relmask_plugins.whale",
    "relmask_plugins.fer",
    "relmask_plugins.metrics",
)
