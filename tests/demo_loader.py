"""Import a script of ``demos/`` as a module (``demos/`` is not a package).

Tests of the demos call their functions with small parameters; pytest puts
this directory on ``sys.path`` (rootdir-less ``prepend`` import mode), so test
files import this helper as ``from demo_loader import load_demo``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

DEMOS = Path(__file__).resolve().parents[1] / "demos"


def load_demo(name: str) -> ModuleType:
    """The module of ``demos/<name>.py`` (imported once, cached in ``sys.modules``)."""
    key = f"femhomog_demo_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, DEMOS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module
