"""Deliberately broken plugin for the tests: fails on import like a plugin with a missing dependency."""
raise ImportError("relmask_broken.import_error needs 'no_such_module', which is not installed")
