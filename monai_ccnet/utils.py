"""Small shared helpers."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["as_bool", "atomic_write_json", "atomic_write_text", "optional_import", "read_json", "save_figure"]


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file in the same folder + ``os.replace``),
    so a crash or kill never leaves a half-written file behind."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:  # name the file the user asked for, not the temp file
        raise OSError(err.errno, f"cannot write {path}: {err.strerror or err}") from None
    try:
        # mkstemp creates 0600 files; give the result the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int = 2) -> Path:
    """JSON version of :func:`atomic_write_text` (NaN is refused: it is not valid JSON)."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, allow_nan=False) + "\n")


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "none", "")


def as_bool(value: Any, name: str) -> bool:
    """A config flag as a bool. Command-line overrides arrive as text (`--layerwise false` is the
    string "false", which Python would take as true), so words are parsed and anything else is refused.

    Raises:
        ValueError: ``value`` is neither a bool, 0/1, None nor one of the words above.
    """
    if isinstance(value, bool) or value is None:
        return bool(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"{name} must be true or false, got {value!r}.")


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Parse a JSON file; errors name the file and what it was supposed to be.

    Raises:
        ValueError: the file does not exist, cannot be read, or is not valid JSON.
    """
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except OSError as err:  # missing, a folder, no permission, ...
        raise ValueError(f"{path}: cannot read the {what} ({err.strerror or err}).") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}).") from None


def optional_import(name: str):
    """Import ``name`` or return None (for optional extras such as matplotlib)."""
    try:
        return __import__(name, fromlist=["_"])
    except ImportError:
        return None


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Lay out a ``matplotlib.figure.Figure`` and write it to ``path`` (creating folders).

    Library figures are made with ``Figure(...)``, not pyplot, and drawn here on an Agg canvas,
    so the user's pyplot backend is never chosen or switched and nothing needs closing.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # the optional [plot] extra: only to draw

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)  # attaches itself as fig.canvas
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return path
