"""Mistakes a user fixes in a file or a setting, and how the Hydra scripts report them: one line, not a traceback.

Hydra prints 20-40 lines of traceback for any exception of a task, with the
message at the bottom. The project's own errors already name the file, line,
field or key to fix, so ``report_user_errors`` prints just that message and
exits; ``HYDRA_FULL_ERROR=1`` still shows the whole trace. Anything else (a bug)
keeps Hydra's traceback.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

# Exit status of a run stopped by a user error (the CLI's too); Hydra's own failures exit 1.
USER_ERROR_EXIT = 2

T = TypeVar("T")


class UserError(Exception):
    """Base of the errors whose message tells the user what to fix; no traceback is needed."""


class ConfigError(UserError, ValueError):
    """A setting out of range or at odds with the data, naming its key."""


class MissingPathError(UserError, FileNotFoundError):
    """A file or folder the user named (in a setting) does not exist."""


class NotWritableError(UserError, OSError):
    """A folder the run must write to cannot be written."""


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message of a user error; None for anything else (a bug keeps its traceback)."""
    from omegaconf.errors import MissingMandatoryValue  # here: io imports this module, and stays light

    if isinstance(exc, MissingMandatoryValue):
        key = exc.full_key or "a key"
        return f"{key} has no value (the config leaves it ???); set it on the command line: {key}=..."
    if isinstance(exc, UserError):
        return " ".join(str(exc).split("\n"))
    return None


def report_user_errors(task: Callable[..., T]) -> Callable[..., T]:
    """Wrap a ``@hydra.main`` task: a user error prints ``error: <message>`` on stderr and exits 2.

    It must sit inside ``@hydra.main``: Hydra catches a task's exceptions itself.
    In a multirun the first job with a user error stops the sweep (a bad file or
    setting is almost always shared by every job); finished jobs keep their folders.
    """

    @functools.wraps(task)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return task(*args, **kwargs)
        except Exception as exc:
            problem = user_error_message(exc)
            if problem is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            message = f"error: {_sweep_job()}{problem}"
            _log_to_files(message)
            print(message, file=sys.stderr)
            raise SystemExit(USER_ERROR_EXIT) from None

    return wrapper


def _sweep_job() -> str:
    """``sweep job N (<folder>): `` in a multirun, else nothing."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return ""
    hydra_cfg = HydraConfig.get()
    return f"sweep job {hydra_cfg.job.num} ({hydra_cfg.runtime.output_dir}): "


def _log_to_files(message: str) -> None:
    # The run's log file says why the run stopped; the console gets the message once, on stderr.
    record = logging.LogRecord(__name__, logging.ERROR, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)
