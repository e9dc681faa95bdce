"""Result files written safely from MPI jobs.

Results are written by rank 0 only, atomically: a reader (or a crashed run)
sees either the previous complete file or the new complete file, never a
truncated one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from femhomog import FemhomogError

__all__ = [
    "dumps",
    "json_default",
    "write_atomic",
    "write_csv_atomic",
    "write_json_atomic",
]


def json_default(obj: Any) -> Any:
    """``json.dump`` fallback for numpy arrays/scalars and paths."""
    if isinstance(obj, Path):
        return str(obj)
    tolist = getattr(obj, "tolist", None)  # numpy arrays and numpy scalars
    if callable(tolist):
        return tolist()
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


def dumps(data: Any, indent: int = 2) -> str:
    """JSON text with one line per innermost list of numbers.

    ``json.dumps(indent=2)`` puts every matrix entry on its own line; keeping
    rows of scalars on one line makes tensors readable in the file.
    """
    # Round trip through json first: applies json_default and rejects bad data.
    plain = json.loads(json.dumps(data, default=json_default))

    def fmt(obj: Any, level: int) -> str:
        pad, inner = " " * (indent * level), " " * (indent * (level + 1))
        if isinstance(obj, dict) and obj:
            items = [f"{inner}{json.dumps(k)}: {fmt(v, level + 1)}" for k, v in obj.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(obj, list) and obj and any(isinstance(v, list | dict) for v in obj):
            return "[\n" + ",\n".join(inner + fmt(v, level + 1) for v in obj) + "\n" + pad + "]"
        return json.dumps(obj, separators=(", ", ": "))

    return fmt(plain, 0) + "\n"


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; not possible on every OS/file system."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | Path, data: str | bytes | Callable[[BinaryIO], None]) -> Path:
    """Replace ``path`` atomically by ``data`` (this process only, no MPI).

    The one atomic-write primitive of femhomog: the content goes to a temporary
    file in the same directory (``os.replace`` is atomic only within one file
    system), is flushed and fsynced, and the temporary file is renamed over
    ``path``; the directory is then fsynced so that the rename is durable.  A
    process killed at any moment (even ``SIGKILL``) leaves either the previous
    complete ``path`` or the new one, plus at worst a stray ``.NAME.*.tmp``.

    Parameters
    ----------
    path
        Target file (its directory is created if needed).
    data
        Text (written as UTF-8), bytes, or a callable that writes the content
        to the binary file object it is given (e.g. ``numpy.savez``: no copy
        of large arrays in memory).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OSError
        The file cannot be written; ``path`` is then unchanged.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, str):
                f.write(data.encode("utf-8"))
            elif isinstance(data, bytes | bytearray | memoryview):
                f.write(data)
            else:
                data(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; keep the mode of the file we replace, else
        # make results as readable as files written by open().
        try:
            mode = path.stat().st_mode & 0o777
        except OSError:
            mode = 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def _write(path: Path, render: Callable[[], str]) -> None:
    text = render()  # before creating the temporary file: may raise TypeError
    write_atomic(path, text)


def write_csv_atomic(
    path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]], comm: Any = None
) -> Path:
    """Write a CSV table on rank 0, atomically (same guarantees as :func:`write_json_atomic`).

    Floats are written with ``repr`` precision (17 significant digits).
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([repr(float(v)) if isinstance(v, float) else v for v in row])
    return _write_collective(Path(path), buf.getvalue, comm)


def write_json_atomic(path: str | Path, data: Any, comm: Any = None) -> Path:
    """Write ``data`` as JSON to ``path`` on rank 0, atomically.

    Rank 0 writes a temporary file in the target directory (created if
    needed), fsyncs it and renames it over ``path``.  Collective on ``comm``:
    the other ranks wait until the file is complete, and a failure on rank 0
    raises on every rank (so no rank is left waiting in a later collective).

    Parameters
    ----------
    path
        Target file.
    data
        JSON-serializable data; numpy arrays/scalars and paths are converted.
    comm
        An mpi4py communicator, or None for a serial write.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    FemhomogError
        If the file cannot be written (on every rank).
    TypeError
        On rank 0 if ``data`` is not serializable (other ranks get a
        :class:`RuntimeError`).
    """
    return _write_collective(Path(path), lambda: dumps(data), comm)


def _write_collective(path: Path, render: Callable[[], str], comm: Any) -> Path:
    """Rank 0 writes ``render()`` atomically; failures are raised on every rank."""
    rank = 0 if comm is None else comm.Get_rank()
    failure: tuple[str, str] | None = None
    error: BaseException | None = None
    if rank == 0:
        try:
            _write(path, render)
        except OSError as exc:
            failure = ("os", f"cannot write {path}: {exc.strerror or exc}")
        except Exception as exc:  # noqa: BLE001 - re-raised below after telling the others
            failure, error = ("other", f"rank 0 failed to write {path}: {exc}"), exc
    if comm is not None and comm.Get_size() > 1:
        # bcast doubles as the barrier: nobody proceeds before rank 0 is done.
        failure = comm.bcast(failure, root=0)
    if failure is not None:
        kind, message = failure
        if kind == "os":
            raise FemhomogError(message)
        if error is not None:
            raise error
        raise RuntimeError(message)
    return path
