"""The plugin system: the component classes and their declared parameters (``components``), the pluggy hooks
(``hookspecs``), the one table of the kinds they register (``kinds``) and the registries that load built-in and
third-party plugins (``plugins``). Every other layer finds relevance methods, maskers, domains, models, metrics and
experiments through it."""
