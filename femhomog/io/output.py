"""Result files written safely from MPI jobs, into output directories that are checked.

Results are written by rank 0 only, atomically: a reader (or a crashed run)
sees either the previous complete file or the new complete file, never a
truncated one.

Output directories
------------------
:func:`claim_output_dir` checks ``--out DIR`` before any computation (created
if needed, writable, not under a file or a pseudo file system such as ``/proc``)
and takes ``DIR/.femhomog.lock`` against a second run into the same directory.
A claimed directory is *guarded* (:func:`guard_directory`): if it vanishes or is
replaced during the run (``rm -rf DIR``), :func:`write_atomic` refuses to write
into it (it would otherwise silently create a new, nearly empty ``DIR``) and
raises :class:`OSError`, so the run fails loudly instead of completing with
lost rows.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Self

from femhomog import FemhomogError

__all__ = [
    "LOCK_FILE",
    "DirectoryGuard",
    "OutputDir",
    "check_guarded",
    "claim_output_dir",
    "dumps",
    "guard_directory",
    "guarded",
    "json_default",
    "unguard",
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
    check_guarded(path)  # a vanished output directory is not silently created again
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


# ====================================================================== output directories
#: The lock file of a run in its output directory (JSON: host, pid, process start).
LOCK_FILE = ".femhomog.lock"


class DirectoryGuard:
    """Notices that a directory vanished or was replaced since the guard was made.

    The guard holds the directory open: a removed directory then keeps its inode
    (with no links) until :meth:`close`, so a new directory made under the same
    name cannot get the same ``(st_dev, st_ino)`` and pass for the old one.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(os.path.abspath(path))
        self._fd: int | None = os.open(self.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        st = os.fstat(self._fd)
        self.identity = (st.st_dev, st.st_ino)

    def vanished(self) -> bool:
        try:
            st = os.stat(self.path)
        except OSError:
            return True
        if self._fd is not None and os.fstat(self._fd).st_nlink == 0:
            return True
        return (st.st_dev, st.st_ino) != self.identity

    def check(self) -> None:
        """Raise :class:`OSError` (ENOENT) if the directory vanished or was replaced."""
        if self.vanished():
            raise OSError(errno.ENOENT, f"the output directory {self.path} vanished during "
                          "the run (deleted or replaced)")

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


_GUARDS: dict[Path, DirectoryGuard] = {}


def guard_directory(path: str | Path) -> DirectoryGuard:
    """Guard an existing directory for the rest of the process (or until :func:`unguard`).

    Every :func:`write_atomic` into it (or below it) first checks that it is still
    the same directory.
    """
    guard = DirectoryGuard(path)
    previous = _GUARDS.get(guard.path)
    if previous is not None:
        previous.close()
    _GUARDS[guard.path] = guard
    return guard


def unguard(guard: DirectoryGuard) -> None:
    """Stop guarding (the run that owned the directory is over)."""
    if _GUARDS.get(guard.path) is guard:
        del _GUARDS[guard.path]
    guard.close()


def guarded(path: str | Path) -> bool:
    """Whether ``path`` is a guarded directory."""
    return Path(os.path.abspath(path)) in _GUARDS


def check_guarded(path: str | Path) -> None:
    """Raise :class:`OSError` if a guarded directory containing ``path`` vanished."""
    if not _GUARDS:
        return
    p = Path(os.path.abspath(path))
    for parent in p.parents:
        guard = _GUARDS.get(parent)
        if guard is not None:
            guard.check()


def _process_start(pid: int) -> str | None:
    """Start time of a process (clock ticks since boot, Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22: starttime


def _alive(owner: dict[str, Any]) -> bool:
    """Whether the lock owner (same host) still runs; True when it cannot be told."""
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    started = owner.get("process_start")
    return started is None or _process_start(pid) in (None, started)


class OutputDir:
    """A claimed output directory: its lock and guard; :meth:`release` when the run ends."""

    def __init__(self, path: Path, lock: Path | None, guard: DirectoryGuard | None) -> None:
        self.path = path
        self.lock = lock
        self.guard = guard

    def release(self) -> None:
        """Remove the lock (if it is still ours) and stop guarding."""
        if self.guard is not None:
            unguard(self.guard)
            self.guard = None
        if self.lock is not None:
            try:
                owner = json.loads(self.lock.read_text(encoding="utf-8"))
                if owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
                    self.lock.unlink()
            except (OSError, ValueError, AttributeError):
                pass
            self.lock = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _claim(path: Path, what: str) -> tuple[Path, str | None]:
    """One process: create and probe ``path``, take its lock; (lock path, error or None)."""
    where = f"{what} {path}"
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.is_dir():
            if parent == path:
                return path, f"{where} exists and is not a directory"
            return path, f"{where}: {parent} is not a directory"
        if parent.exists():
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".femhomog-probe-{socket.gethostname()}-{os.getpid()}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"probe")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        return path, f"{where} is not a writable directory: {exc.strerror or exc}"
    lock = path / LOCK_FILE
    me = {"host": socket.gethostname(), "pid": os.getpid(),
          "process_start": _process_start(os.getpid()), "since": time.time()}
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                owner = json.loads(lock.read_text(encoding="utf-8"))
                owner = owner if isinstance(owner, dict) else {}
            except (OSError, ValueError):
                owner = {}  # half-written by a killed run: stale
            if owner.get("host", me["host"]) == me["host"] and not _alive(owner):
                try:  # stale: its run died (SIGKILL, node crash); take it over
                    lock.unlink()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    return path, f"{where}: cannot remove the stale lock {lock}: {exc.strerror}"
                continue
            return lock, (f"{where} is in use by another run (pid {owner.get('pid')} on "
                          f"{owner.get('host')}, lock {lock}); wait for it, or remove the "
                          "lock file if that run is dead")
        except OSError as exc:
            return path, f"{where}: cannot create the lock {lock}: {exc.strerror or exc}"
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(me, f)
        return lock, None
    return lock, f"{where}: cannot take the lock {lock} (another run is taking it)"


def claim_output_dir(path: str | Path, comm: Any = None, *, what: str = "--out",
                     lock: bool = True) -> OutputDir:
    """Check an output directory before any computation and take its lock (collective).

    Rank 0 creates ``path`` if needed, checks that a file can be created in it
    (a path under a file, in ``/proc`` or ``/sys``, or without write permission
    fails here, not after the mesh is built) and creates ``path/.femhomog.lock``
    (host, pid and start time of the process).  A lock whose process is dead (same
    host) is stale and taken over; a live one means a second run into the same
    directory, which is refused.  The directory is then guarded
    (:func:`guard_directory`) until :meth:`OutputDir.release`.

    Parameters
    ----------
    path
        The output directory.
    comm
        mpi4py communicator (None: this process only).
    what
        Names the directory in messages (the option, e.g. ``"--out"``).
    lock
        Take the lock (False: only check).

    Returns
    -------
    OutputDir
        Release it when the run ends (or use it as a context manager).

    Raises
    ------
    ConfigError
        On every rank, with a one-line message.
    """
    from femhomog import ConfigError

    path = Path(path)
    rank = 0 if comm is None else comm.Get_rank()
    failure: str | None = None
    lock_path: Path | None = None
    if rank == 0:
        lock_path, failure = _claim(path, what)
        if not lock and failure is None:
            lock_path.unlink()
            lock_path = None
    if comm is not None and comm.Get_size() > 1:
        failure = comm.bcast(failure, root=0)
    if failure is not None:
        raise ConfigError(failure)
    if rank != 0:  # only rank 0 writes (the directory may not even be shared)
        return OutputDir(path, None, None)
    return OutputDir(path, lock_path, guard_directory(path))
