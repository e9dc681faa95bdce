"""Recorders: what a time loop writes at its output times.

A recorder offers

``open(comm, keep_rows=None)``
    before the first output (``keep_rows``: a resumed run continues a table
    from its first ``keep_rows`` rows);
``record(t) -> dict or None``
    at every output time (``t`` in output units); a dict of scalars joins the
    row shown by the progress display and kept as the run's last row;
``finish()``
    after the last step of a successful run;
``close()``
    always, at the end (also after a failure).

:class:`ScalarLog` (a CSV table of callable columns), :class:`FieldWriter`
(VTX files of any functions) and :class:`StateWriter` (a nodal state file at the
end) are the recorders of femhomog.

CSV durability
--------------
A table is *appended* one row per output step, not rewritten: rewriting a
table of ``n`` rows at each of ``n`` output steps costs ``O(n^2)`` I/O, which
matters for long runs.  The header is written atomically (temporary file +
rename) when the run starts; every row is then a single ``write(2)`` of one
complete line to a file opened with ``O_APPEND``, followed by ``fsync``.  A
signal cannot split a ``write`` to a regular file, so a killed run leaves
exactly the rows written so far, each complete and on disk.  A ``write`` that
fails part-way (disk full, file size limit) is undone (``ftruncate`` to the
previous end).  Only an operating-system crash in the middle of a ``write``
could leave a last line without its newline; readers drop such a line.

Before every row the open file is checked to still be the table at ``path``
(``fstat`` against ``stat``): rows written to a file whose directory was deleted
would be lost without any error, so that fails the run instead.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from femhomog import ConfigError, FemhomogError
from femhomog.io.output import write_atomic, write_csv_atomic

__all__ = ["Columns", "FieldWriter", "ScalarLog", "StateWriter"]

#: Column name -> callable returning a float, or a tuple of names -> callable returning
#: a sequence of floats (in that order) or a mapping with those names.
Columns = Mapping[str | tuple[str, ...], Callable[[], Any]]


class ScalarLog:
    """A CSV table with one row per output time, its columns computed by callables.

    Parameters
    ----------
    path
        The table.
    columns
        ``{"t": f, ("mx", "my", "mz"): g, ...}``: a name and a callable returning a
        float, or a tuple of names and a callable returning that many floats (a
        sequence, or a mapping with these keys).  Callables take no argument
        and read the state they report (e.g. ``lambda: problem.t``).
    source
        Table to continue on a resumed run (default ``path``; see :meth:`open`).

    Notes
    -----
    Collective on the communicator given to :meth:`open`: every rank evaluates
    the columns (they may be collective), rank 0 writes, and a write failure
    raises :class:`femhomog.FemhomogError` on every rank.  Values are written
    with ``repr`` (17 significant digits: bitwise round trip).
    """

    def __init__(self, path: str | Path, columns: Columns, *,
                 source: str | Path | None = None) -> None:
        self.path = Path(path)
        self.source = Path(source) if source is not None else None
        self._columns: list[tuple[tuple[str, ...], bool, Callable[[], Any]]] = []
        header: list[str] = []
        for key, fn in columns.items():
            names = (key,) if isinstance(key, str) else tuple(key)
            if not callable(fn):
                raise TypeError(f"column {key!r} is not callable")
            self._columns.append((names, isinstance(key, str), fn))
            header.extend(names)
        if len(set(header)) != len(header):
            raise ValueError(f"repeated column names in {header}")
        self.header = header
        self.comm: Any = None
        self.rows = 0
        self._fd: int | None = None

    # ------------------------------------------------------------------ lifecycle
    def open(self, comm: Any, keep_rows: int | None = None) -> None:
        """Start a new table, or continue one (resumed run) from its first ``keep_rows`` rows.

        On resume the header and the first ``keep_rows`` rows of ``source`` (the
        rows up to the checkpoint; later rows were written by the killed run and
        are recomputed) replace ``path`` atomically, and rows are appended from there.

        Raises
        ------
        ConfigError
            Resume only, on every rank: ``source`` is missing, has another
            header or fewer than ``keep_rows`` complete rows.
        """
        self.comm = comm
        if keep_rows is None:
            write_csv_atomic(self.path, self.header, [], comm)
            self.rows = 0
        else:
            failure = None
            if comm.rank == 0:
                try:
                    _truncate_table(self.source or self.path, self.path, self.header, keep_rows)
                except ConfigError as exc:
                    failure = str(exc)
            failure = comm.bcast(failure, root=0)
            if failure is not None:
                raise ConfigError(failure)
            self.rows = keep_rows

        def open_() -> None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

        self._on_root(open_)

    def _on_root(self, action: Callable[[], None]) -> None:
        failure = None
        if self.comm.rank == 0:
            try:
                action()
            except OSError as exc:
                failure = f"cannot write {self.path}: {exc.strerror or exc}"
        failure = self.comm.bcast(failure, root=0)
        if failure is not None:
            raise FemhomogError(failure)

    def values(self) -> dict[str, float]:
        """The columns now (collective: every rank evaluates every callable)."""
        row: dict[str, float] = {}
        for names, single, fn in self._columns:
            value = fn()
            if single:
                row[names[0]] = float(value)
                continue
            if isinstance(value, Mapping):
                value = [value[n] for n in names]
            value = list(value)
            if len(value) != len(names):
                raise ValueError(f"columns {names} got {len(value)} values")
            row.update((n, float(v)) for n, v in zip(names, value, strict=True))
        return row

    def record(self, t: float | None = None) -> dict[str, float]:
        """Evaluate the columns and append the row; ``t`` is not used (columns say it)."""
        row = self.values()
        self.append([row[k] for k in self.header])
        return row

    def append(self, row: Sequence[float]) -> None:
        """Append one complete line (one ``write`` + ``fsync``; see the module docstring)."""
        if self.comm is None:
            raise RuntimeError(f"{self.path}: open() the table first")
        if len(row) != len(self.header):
            raise ValueError(f"row has {len(row)} entries, header {len(self.header)}")
        line = (",".join(repr(float(v)) for v in row) + "\n").encode("ascii")

        def write() -> None:
            assert self._fd is not None
            _check_same_file(self._fd, self.path)
            end = os.fstat(self._fd).st_size
            view = memoryview(line)
            try:
                while view:  # regular files take the whole line at once; loop for safety
                    view = view[os.write(self._fd, view):]
                os.fsync(self._fd)
            except OSError:
                try:  # no partial row (a full disk may take part of the line)
                    os.ftruncate(self._fd, end)
                except OSError:
                    pass
                raise

        self._on_root(write)
        self.rows += 1

    def finish(self) -> None:
        pass

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _check_same_file(fd: int, path: Path) -> None:
    """Raise :class:`OSError` if the open file ``fd`` is no longer the file at ``path``."""
    st = os.fstat(fd)
    try:
        now = os.stat(path)
        same = (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)
    except OSError:
        same = False
    if st.st_nlink == 0 or not same:
        raise OSError(errno.ENOENT, "the file was deleted or replaced during the run "
                      "(its directory vanished?)")


def _truncate_table(source: Path, path: Path, header: list[str], rows: int) -> None:
    """Header + first ``rows`` lines of ``source`` to ``path``, atomically (one process)."""
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ConfigError(f"--restart: cannot read {source}: {exc.strerror or exc}") from None
    lines = data.split(b"\n")  # a last line without newline (an OS crash) is dropped
    complete = lines[:-1]
    want = ",".join(header).encode("ascii")
    if not complete or complete[0] != want:
        got = complete[0].decode("ascii", "replace") if complete else "(empty)"
        raise ConfigError(f"--restart: {source} has the header {got!r}, expected "
                          f"{want.decode()!r}")
    if len(complete) - 1 < rows:
        raise ConfigError(f"--restart: {source} has {len(complete) - 1} rows, the checkpoint "
                          f"needs the first {rows}")
    try:
        write_atomic(path, b"\n".join(complete[: rows + 1]) + b"\n")
    except OSError as exc:
        raise ConfigError(f"--restart: cannot write {path}: {exc.strerror or exc}") from None


class FieldWriter:
    """Functions at the output times as VTX (ADIOS2 BP4) for ParaView; times in output units.

    Parameters
    ----------
    path
        The ``.bp`` directory (VTX files cannot be appended to: a resumed run
        writes a new one).
    functions
        Functions on one mesh (one function space family, as VTX requires).
    """

    def __init__(self, path: str | Path, functions: Sequence[Any]) -> None:
        self.path = Path(path)
        self.functions = list(functions)
        if not self.functions:
            raise ValueError("FieldWriter needs at least one function")
        self.frames = 0
        self._vtx: Any = None

    def open(self, comm: Any = None, keep_rows: int | None = None) -> None:
        """Create the file (collective on the functions' mesh)."""
        from femhomog import _fenicsx  # noqa: F401  (must precede dolfinx)

        # isort: split
        import dolfinx.io

        mesh = self.functions[0].function_space.mesh
        self._vtx = dolfinx.io.VTXWriter(mesh.comm, str(self.path), self.functions,
                                         engine="BP4")

    def record(self, t: float) -> None:
        if self._vtx is None:
            self.open()
        self._vtx.write(t)
        self.frames += 1

    def finish(self) -> None:
        pass

    def close(self) -> None:
        if self._vtx is not None:
            self._vtx.close()
            self._vtx = None


class StateWriter:
    """The nodal state (:mod:`.state`) written once, when the run completes.

    Parameters
    ----------
    path
        The ``.npz`` file (arrays ``keys``, ``x``, one per function, ``t``).
    state
        Name -> P1 function.
    time
        Callable returning the time to store (output units).
    length_scale
        Units of the stored ``x`` per mesh length unit.
    """

    def __init__(self, path: str | Path, state: Mapping[str, Any], *,
                 time: Callable[[], float], length_scale: float = 1.0) -> None:
        self.path = Path(path)
        self.state = dict(state)
        self.time = time
        self.length_scale = float(length_scale)

    def open(self, comm: Any = None, keep_rows: int | None = None) -> None:
        pass

    def record(self, t: float) -> None:
        pass

    def finish(self) -> None:
        from femhomog.timestepping.state import NodalLayout, save_state

        save_state(self.path, NodalLayout(self.state), length_scale=self.length_scale,
                   t=self.time())

    def close(self) -> None:
        pass
