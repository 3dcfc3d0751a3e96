"""Meta-tests (as datasette does): every hook is documented with its exact signature and exercised by a test."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from relmask.plugin_system import hookspecs

ROOT = Path(__file__).resolve().parents[2]
# that each hook is a row of the kinds table: tests/core/test_plugins.py
HOOK_NAMES = [n for n, f in vars(hookspecs).items() if callable(f) and hasattr(f, "relmask_spec")]


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_hook_is_documented_with_its_signature(hook):
    signature = f"{hook}{inspect.signature(getattr(hookspecs, hook))}"
    assert f"### `{signature}`" in (ROOT / "docs" / "plugins.md").read_text()


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_hook_is_implemented_by_the_example_plugin(hook):
    """The example plugin implements every hook, so tests/core/test_plugins.py exercises every hook end to end."""
    example = (Path(__file__).parent.parent / "example_plugin" / "relmask_example" / "__init__.py").read_text()
    assert f"def {hook}(register)" in example
    assert hook in (Path(__file__).parent / "test_plugins.py").read_text()


def test_every_kind_is_named_in_the_plugin_guide():
    """docs/plugins.md names each kind's `relmask list` word and its relmask.list_X() lookup."""
    from relmask.plugin_system.kinds import KINDS

    guide = (ROOT / "docs" / "plugins.md").read_text()
    missing = [kind.cli_word for kind in KINDS if f"`{kind.cli_word}`" not in guide]
    missing += [f"list_{kind.api_name}s" for kind in KINDS if kind.api_name and f"list_{kind.api_name}s" not in guide]
    assert not missing, f"docs/plugins.md (## Hooks) does not name: {', '.join(missing)}"
