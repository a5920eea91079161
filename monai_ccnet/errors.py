"""Bad input, reported as such: :class:`ConfigError` and how a bundle run shows it.

A bundle run evaluates the package's functions inside MONAI's config machinery, which wraps any
exception in ``RuntimeError("Failed to evaluate ...")`` / ``RuntimeError("Failed to instantiate
...")``, one level per reference, so a user who gave a wrong path got two or three chained
tracebacks and the cause somewhere in the middle. Errors about the user's input (configuration,
data, budgets) are raised as :class:`ConfigError`; when an uncaught exception's chain holds one,
:func:`bundle_excepthook` prints only ``monai_ccnet: error: <cause>`` as one line (exit status
1). Every other exception, a bug, keeps its full traceback. Set ``MONAI_CCNET_TRACEBACK=1`` to
see the traceback of a ``ConfigError`` too.

Pure standard library: importable without torch or MONAI.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Callable, Iterator

__all__ = ["ConfigError", "config_errors", "checked", "find_config_error", "one_line", "bundle_excepthook",
           "install_bundle_excepthook"]

#: the exceptions the package's input checks raise (bad values, missing or unreadable files)
INPUT_ERRORS = (ValueError, OSError)


class ConfigError(ValueError):
    """A bad input to a run (a configuration value, a data file, an infeasible budget); the message
    says what is wrong and what to change. A ``ValueError``, so ``except ValueError`` still catches it."""


@contextlib.contextmanager
def config_errors() -> Iterator[None]:
    """Inside this block, ``ValueError`` and ``OSError`` (the package's input checks) are bad input:
    re-raised as :class:`ConfigError` with the same message (the original as ``__cause__``)."""
    try:
        yield
    except ConfigError:
        raise
    except INPUT_ERRORS as err:
        raise ConfigError(_message(err)) from err


def checked(function: Callable, *args, **kwargs) -> Any:
    """``function(*args, **kwargs)`` with its input errors raised as :class:`ConfigError`.

    For bundle configs, e.g. ``data: $monai_ccnet.errors.checked(monai_ccnet.workflows.bundle_data, dataset_dir=@dataset_dir)``.
    """
    with config_errors():
        return function(*args, **kwargs)


def _message(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        return f"{err.filename}: {err.strerror}"  # open()'s "[Errno 13] Permission denied: 'x'" as "x: Permission denied"
    return str(err)


def find_config_error(exc: BaseException | None) -> ConfigError | None:
    """The first :class:`ConfigError` in ``exc``'s chain (``__cause__``, then ``__context__``), or None."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ConfigError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ if exc.__cause__ is not None else exc.__context__
    return None


def one_line(message: str) -> str:
    """A possibly multi-line message as one line: the first line, then the others joined by ``"; "``."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else ""
    return f"{lines[0]} {'; '.join(lines[1:])}"


_previous_hook: Callable | None = None


def bundle_excepthook(exc_type, exc, tb) -> None:
    """``sys.excepthook`` for bundle runs: one line for a :class:`ConfigError` anywhere in the chain,
    the previous hook (a full traceback) for anything else or with ``MONAI_CCNET_TRACEBACK=1``."""
    error = find_config_error(exc)
    if error is None or os.environ.get("MONAI_CCNET_TRACEBACK", "").strip().lower() in ("1", "true", "yes", "on"):
        (_previous_hook or sys.__excepthook__)(exc_type, exc, tb)
        return
    sys.stderr.flush()
    print(f"monai_ccnet: error: {one_line(str(error))}", file=sys.stderr, flush=True)


def _main_is_monai_bundle() -> bool:
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", None) in ("monai.bundle.__main__", "monai.bundle")


def install_bundle_excepthook(force: bool = False) -> bool:
    """Install :func:`bundle_excepthook` when this process is ``python -m monai.bundle`` (or ``force``).

    Called when ``monai_ccnet.workflows`` is imported (the bundle configs import it), so a bundle
    run's bad input reads as one line; scripts and notebooks that import the package keep Python's
    hook. Idempotent; returns whether the hook is installed.
    """
    global _previous_hook
    if sys.excepthook is bundle_excepthook:
        return True
    if not (force or _main_is_monai_bundle()):
        return False
    _previous_hook = sys.excepthook
    sys.excepthook = bundle_excepthook
    return True
