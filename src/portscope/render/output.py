"""Where outputs go: a file written beside its target and renamed only when complete, or standard output.

Never lose the user's data: a run that fails, is interrupted or is stopped by ``--strict`` must not
truncate or replace a file that was already there, and must leave no half-written one. So a regular
file is written as ``.NAME.portscope-`` and a random suffix (``tempfile.mkstemp``) in the target's
directory (same file system: the rename is atomic, POSIX rename(2)) and renamed over the target on
success only. A target that is not a
regular file (``/dev/stdout``, a FIFO, ``/dev/full``, a terminal) is written in place: there is
nothing there to protect and no directory to write beside it in.

A write that fails (a full disk, ENOSPC; a closed pipe) is a :class:`~portscope.errors.DataError`
naming the file and the reason, never an OSError traceback.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from portscope.errors import DataError

__all__ = ["STDOUT", "output_file", "writing"]

STDOUT = "-"


def _is_regular_or_absent(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True
    except OSError as error:
        raise DataError(f"{path}: cannot write: {error.strerror or error}") from error


@contextlib.contextmanager
def writing(path: str) -> Iterator[None]:
    """OSError inside the block (a full disk, a vanished directory) becomes one DataError naming ``path``."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as error:
        where = "standard output" if path == STDOUT else path
        raise DataError(f"{where}: cannot write: {error.strerror or error}") from error


@contextlib.contextmanager
def output_file(path: str, mode: str = "wb", **open_args: Any) -> Iterator[IO[Any]]:
    """An open file for ``path`` (``-``: standard output), complete at ``path`` only if the block
    succeeds. A failing block (any exception) leaves ``path`` as it was."""
    if path == STDOUT:
        stream: IO[Any] = sys.stdout.buffer if "b" in mode else sys.stdout
        with writing(path):
            yield stream
            stream.flush()
        return
    if not _is_regular_or_absent(path):
        with writing(path), open(path, mode, **open_args) as direct:  # a device or a FIFO: in place
            yield direct
        return
    directory, name = os.path.split(os.path.abspath(path))
    with writing(path):
        descriptor, temporary = tempfile.mkstemp(prefix=f".{name}.portscope-", dir=directory)
    try:
        with writing(path), os.fdopen(descriptor, mode, **open_args) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        with writing(path):
            _keep_mode(path, temporary)
            os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _keep_mode(path: str, temporary: str) -> None:
    """The new file gets the old one's permissions, or those a new file would have had (mkstemp's are 0600)."""
    try:
        os.chmod(temporary, stat.S_IMODE(os.stat(path).st_mode))
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
