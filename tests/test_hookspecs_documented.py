"""Meta-tests (as datasette does): every hook is documented with its exact signature and exercised by a test."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from relmask.plugin_system import hookspecs
from relmask.plugin_system.plugins import HOOKS

ROOT = Path(__file__).resolve().parents[1]
HOOK_NAMES = [n for n, f in vars(hookspecs).items() if callable(f) and hasattr(f, "relmask_spec")]


def test_hook_table_matches_hookspecs():
    assert sorted(HOOK_NAMES) == sorted(HOOKS)


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_hook_is_documented_with_its_signature(hook):
    signature = f"{hook}{inspect.signature(getattr(hookspecs, hook))}"
    assert f"### `{signature}`" in (ROOT / "docs" / "plugins.md").read_text()


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_hook_is_implemented_by_the_example_plugin(hook):
    """The example plugin implements every hook, so tests/test_plugins.py exercises every hook end to end."""
    example = (Path(__file__).parent / "example_plugin" / "relmask_example" / "__init__.py").read_text()
    assert f"def {hook}(register)" in example
    assert hook in (Path(__file__).parent / "test_plugins.py").read_text()
