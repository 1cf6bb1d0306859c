"""A module of `diffusion/` as it was at a git revision, imported beside today's package: what the
benchmarks' --figures-of, --of and --model-of compare the working tree with, in one process."""

from __future__ import annotations

import importlib.util
import subprocess
import tempfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def module_at(revision: str, name: str) -> ModuleType:
    """diffusion/<name>.py at `revision`, as the module `diffusion._<name>_at_revision`.

    Its relative imports (`from .views import ...`) find today's package, so it runs on the same
    data types as the working tree. The `diffusion` package must be importable (ROOT on sys.path).
    """
    source = subprocess.run(
        ["git", "show", f"{revision}:diffusion/{name}.py"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"diffusion._{name}_at_revision", path)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "diffusion"
    spec.loader.exec_module(module)
    return module
