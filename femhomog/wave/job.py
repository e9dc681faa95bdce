"""Driver of ``femhomog wave CONFIG --out DIR``: u^eps against the effective u~^s.

u^eps solves the fine-scale equation (13) of the wave paper, u~^s the effective
equation (14) of order s with the tensors a^{2r}, b^{2r} of (29) (Lemma 4, (34)-(38);
not the printed (31)/(32), see docs/DESIGN.md); the error is the paper's Sect. 4
err(u~^s)(t) = ||u^eps - u~^s||_L2 / ||u^eps||_L2, on the Fourier grid.

The objects come from :func:`femhomog.wave.build.build_wave` (tensors of the cell
pipeline or of a ``tensors.json``, the box mesh, the fine-scale operators, the Fourier
solvers, the error grid); the fine-scale solution is advanced by
:class:`femhomog.wave.build.FineRun` (Chebyshev propagation, exact in time, when
``f = 0``; the leapfrog schemes otherwise) from one output time to the next.

Files in DIR
------------
``errors.csv``   ``t,err_s0,err_s1,...``: ``||u^eps - u~^s|| / ||u^eps||`` at the output
                 times, both evaluated at the points of the Fourier grid
                 (:mod:`femhomog.wave.sampling`: u^eps evaluated exactly there, the
                 effective solutions never interpolated)
``fine.csv``     ``t,norm,energy,matmults``: L2 norm of u^eps (GLL quadrature), the energy
                 (its drift is the check of a long run), work so far
``cuts/t_<t>.csv`` the grid line along ``output.cut_axis`` through ``output.cut_through``:
                 ``x<axis>,u_eps,u_s0,...``
``u_eps.bp``     u^eps at the output times (VTX, ``output.fields``)
``tensors.json`` the effective tensors used (computed here, or a copy of the one read)
``run.json``     status, timings, dofs, pieces, MatMults (:class:`RunRecord`)
``checkpoint/checkpoint.npz`` (``output.checkpoint_every``/``checkpoint_wall``)

Why not :class:`femhomog.timestepping.TimeLoop`: the output times are an arbitrary
(by default log-spaced) list, the loop lands on multiples of one ``dt_out``; and the
Chebyshev "step" is exact over any interval, so the natural steps are the pieces
between output times.  The tables, fields, progress, run.json and the checkpoint
metadata are the time-stepping layer's.

Restart (``femhomog wave CONFIG --restart DIR``): as for ``femhomog llg``, the
configuration may differ only in ``time.t_end`` and ``output.*``; the state (two GLL
vectors keyed by node coordinates, :mod:`femhomog.wave.state`) is read on any number of
ranks; on the same ranks the continued run is bitwise the uninterrupted one.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from femhomog import (
    ConfigError,
    SolverError,
    __version__,
    _fenicsx,  # noqa: F401  (must precede dolfinx / petsc4py)
)

# isort: split
import dolfinx
from mpi4py import MPI

from femhomog.io.logging import get_logger
from femhomog.io.output import write_csv_atomic, write_json_atomic
from femhomog.timestepping import (
    FieldWriter,
    Progress,
    RunRecord,
    ScalarLog,
    checkpoint_path,
    config_fingerprint,
    prepare_checkpoint_dir,
    read_checkpoint_meta,
    read_run_json,
)
from femhomog.timestepping.checkpoint import CHECKPOINT_FORMAT, config_hash
from femhomog.timestepping.loop import KILL_AT_STEP_ENV
from femhomog.timestepping.runinfo import now
from femhomog.timestepping.stop import RunStopped, StopFlag, deferring, signal_hook
from femhomog.wave.build import FineRun, WaveSetup, build_wave, nodal_callable, output_times
from femhomog.wave.config import WaveJobConfig
from femhomog.wave.state import restore_fine_state, save_fine_state

__all__ = ["run_wave_job"]

log = get_logger(__name__)


#: Periods crossed (``t_end / eps``) beyond which the dispersion error of a coarse
#: discretization reaches the size of the errors of the effective models, and the
#: resolution (``degree * cells_per_period``) measured converged there (Fig. 1: p = 8,
#: 2 el./period differs from p = 12, 8 el./period by 5.1e-4, 3.3e-3, 1.8e-2, 2.7e-2 at
#: t = 10, 100, 10^3, 10^4 with eps = 1/10; p = 12, 4 el./period by <= 1.9e-4).
LONG_RUN_PERIODS, CONVERGED_RESOLUTION = 200.0, 48


def discretization_hint(cfg: WaveJobConfig) -> str | None:
    """A one-line advice when ``t_end`` is long for the fine-scale resolution, else None.

    The spectral elements' phase error grows linearly in t: for runs over more than
    ``LONG_RUN_PERIODS`` periods with ``degree * cells_per_period`` below
    ``CONVERGED_RESOLUTION`` u^eps may not be converged to 10x below err(u~^s).
    """
    if not cfg.fine.enabled:
        return None
    periods = cfg.time.t_end / cfg.wave.eps
    resolution = cfg.fine.degree * cfg.fine.cells_per_period
    if periods <= LONG_RUN_PERIODS or resolution >= CONVERGED_RESOLUTION:
        return None
    return (f"hint: t_end = {cfg.time.t_end:g} is {periods:.0f} periods; the dispersion "
            f"error of fine.degree = {cfg.fine.degree} with fine.cells_per_period = "
            f"{cfg.fine.cells_per_period} grows linearly in t and may exceed err(u~^s)/10 "
            f"(Fig. 1: 2.7e-2 at t = 10^4 for (8, 2)); check by refinement, e.g. "
            f"degree 12 with 4 cells per period")


def _info(setup: WaveSetup, fine: FineRun | None, comm: MPI.Comm) -> dict[str, Any]:
    """The run.json entries known before the first piece."""
    cfg = setup.cfg
    w = cfg.wave
    out: dict[str, Any] = {
        "job": "wave",
        "femhomog_version": __version__,
        "dolfinx_version": dolfinx.__version__,
        "ranks": comm.size,
        "box": {"lower": list(w.lower), "upper": list(w.upper), "boundary": w.boundary,
                "eps": w.eps, "cells": list(setup.cells)},
        "orders": list(setup.solvers),
    }
    if fine is not None:
        assert setup.wave is not None
        out["fine"] = {"dofs": setup.wave.num_dofs, "degree": setup.wave.degree,
                       "cells_per_period": cfg.fine.cells_per_period, **fine.describe()}
    if setup.grid is not None:
        out["grid"] = {"points": list(setup.grid.points),
                       "points_per_period": cfg.effective.points_per_period,
                       "error_norm": "discrete l2 on the Fourier grid (u^eps evaluated at "
                                     "the grid points)"}
    if setup.tensors is not None:
        out["growth_rate"] = {str(s): sol.growth_rate() for s, sol in setup.solvers.items()}
    return out


class _Outputs:
    """errors.csv, fine.csv, cuts and fields at one output time (collective)."""

    def __init__(self, setup: WaveSetup, fine: FineRun | None, out_dir: Path,
                 restart: Path | None, keep_rows: int | None, fields_name: str) -> None:
        cfg, comm = setup.cfg, setup.comm
        self.setup, self.fine, self.out_dir = setup, fine, out_dir
        self.orders = list(setup.solvers)
        self.current: dict[str, Any] = {}
        oc = cfg.output
        self.axis = oc.cut_axis
        self.through = (oc.cut_through if oc.cut_through is not None else
                        [0.5 * (lo + hi) for lo, hi in zip(cfg.wave.lower, cfg.wave.upper,
                                                          strict=True)])
        self.tables: list[ScalarLog] = []
        self.errors = self.norms = None
        if fine is not None and setup.sampler is not None:
            self.errors = ScalarLog(out_dir / "errors.csv", {
                "t": lambda: self.current["t"],
                tuple(f"err_s{s}" for s in self.orders): lambda: self.current["errors"],
            }, source=restart / "errors.csv" if restart else None)
            self.tables.append(self.errors)
        if fine is not None:
            self.norms = ScalarLog(out_dir / "fine.csv", {
                "t": lambda: self.current["t"], "norm": lambda: self.current["norm"],
                "energy": lambda: self.current["energy"],
                "matmults": lambda: self.current["matmults"],
            }, source=restart / "fine.csv" if restart else None)
            self.tables.append(self.norms)
        for table in self.tables:
            table.open(comm, keep_rows=keep_rows)
        self.fields = None
        if fine is not None and oc.fields:
            assert setup.wave is not None
            self.u = dolfinx.fem.Function(setup.wave.V, name="u_eps")
            self.fields = FieldWriter(out_dir / fields_name, [self.u])
            self.fields.open(comm)
        self.seconds = 0.0

    def record(self, t: float) -> dict[str, float]:
        t0 = time.perf_counter()
        setup, fine = self.setup, self.fine
        row: dict[str, float] = {"t": t}
        effective = setup.effective(t) if setup.solvers else {}
        local = None
        if fine is not None:
            assert setup.wave is not None
            u = setup.wave.to_function(fine.u, setup.wave.work)
            if setup.sampler is not None:
                local = setup.sampler.sample(u)
            self.current.update(t=t, norm=fine.norm(), energy=fine.energy(),
                                matmults=fine.matmults)
            if self.errors is not None:
                assert setup.sampler is not None and local is not None
                errs = setup.sampler.relative_errors(local, [effective[s] for s in self.orders])
                self.current["errors"] = errs
                row.update({f"err_s{s}": e for s, e in zip(self.orders, errs, strict=True)})
            row["energy"] = self.current["energy"]
            for table in self.tables:
                table.record()
            if self.fields is not None:
                self.u.x.array[:] = u.x.array
                self.fields.record(t)
        self._cut(t, local, effective)
        self.seconds += time.perf_counter() - t0
        return row

    def _cut(self, t: float, local: np.ndarray | None, effective: dict[int, np.ndarray]
             ) -> None:
        setup = self.setup
        if setup.grid is None:
            return
        line = setup.sampler.line_index(self.axis, self.through) if setup.sampler else None
        header, columns = [f"x{self.axis}"], []
        if local is not None and setup.sampler is not None:
            cut = setup.sampler.cut(local, self.axis, self.through)
            if cut is not None:
                header.append("u_eps")
                columns = [cut[0], cut[1]]
        else:
            g = setup.grid
            columns = [g.axes()[self.axis]]
        if line is None:
            g = setup.grid
            fixed = np.mod(np.rint((np.asarray(self.through) - np.asarray(g.lower))
                                   / g.spacing).astype(int), np.asarray(g.points))
            line = tuple(slice(None) if i == self.axis else int(fixed[i])
                         for i in range(g.dim))
        for s in self.orders:
            header.append(f"u_s{s}")
            columns.append(effective[s][line])
        rows = np.column_stack(columns).tolist() if setup.comm.rank == 0 else []
        write_csv_atomic(self.out_dir / "cuts" / f"t_{t:.6g}.csv", header, rows, setup.comm)

    def close(self) -> None:
        for table in self.tables:
            table.close()
        if self.fields is not None:
            self.fields.close()


def run_wave_job(cfg: WaveJobConfig, *, out_dir: Path, comm: MPI.Comm,
                 restart: Path | None = None) -> dict[str, Any]:
    """Run a wave job; returns the final run.json content plus ``run_json``.

    Raises
    ------
    ConfigError
        Bad input (before anything is written); on restart a missing, damaged or
        mismatched checkpoint.
    SolverError
        The propagation failed (run.json then says ``failed``).
    """
    out_dir = Path(out_dir)
    record = RunRecord(out_dir / "run.json", comm)
    fingerprint = config_fingerprint(cfg.raw)
    meta: dict[str, Any] | None = None
    old_info: dict[str, Any] = {}
    if restart is not None:
        restart = Path(restart)
        meta = read_checkpoint_meta(restart, fingerprint, comm)
        old_info = read_run_json(restart, comm)
        t_ck = float(meta["t_out"])
        if t_ck > cfg.time.t_end * (1 + 1e-9):
            raise ConfigError(f"--restart: the checkpoint is at t = {t_ck:.6g}, after "
                              f"time.t_end = {cfg.time.t_end:.6g}")
        if t_ck >= cfg.time.t_end * (1 - 1e-9) and old_info.get("status") == "completed":
            return {**old_info, "already_completed": True,
                    "run_json": str(restart / "run.json")}

    setup = build_wave(cfg, comm)
    times = output_times(cfg)
    hint = discretization_hint(cfg)
    if hint is not None and comm.rank == 0:
        print(hint, file=sys.stderr, flush=True)
    fine = None
    if setup.wave is not None:
        fine = FineRun(setup.wave, cfg.fine.propagator,
                       nodal_callable(setup.expressions["u0"]),
                       nodal_callable(setup.expressions["u1"]),
                       first_output=times[0], cfl_safety=cfg.fine.cfl_safety)
    loop = {"t": 0.0, "seg_from": 0.0, "seg_to": None, "piece": 0, "pieces_in_segment": 0}
    if meta is not None and fine is not None:
        assert restart is not None and setup.wave is not None
        vectors = restore_fine_state(checkpoint_path(restart), setup.wave, fine.state_names())
        loop.update(meta["loop"])
        fine.set_state(vectors, float(loop["t"]), int(loop.get("steps", 0)))
        fine.pieces = int(loop["pieces"])
        if fine.tau is None:
            fine.integrator.matmults = int(loop["matmults"])
        for v in vectors.values():
            v.destroy()
    record.timings["setup_s"] = record.elapsed(record.t0)
    info = _info(setup, fine, comm)

    if comm.rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    fresh = restart is None or out_dir.resolve() != restart.resolve()
    prepare_checkpoint_dir(out_dir, fresh, comm)
    if setup.tensors_info:
        write_json_atomic(out_dir / "tensors.json", setup.tensors_info, comm)
    oc = cfg.output
    restarts, started, fields_name = 0, now(), "u_eps.bp"
    if meta is not None:
        assert restart is not None
        restarts = max(int(meta.get("restarts", 0)), int(old_info.get("restarts", 0))) + 1
        started = old_info.get("started", started)
        fields_name = f"u_eps_restart{restarts}.bp"
        info["restart_history"] = [*old_info.get("restart_history", []), {
            "at": now(), "t": meta["t_out"], "pieces": meta["loop"]["pieces"],
            "rows": meta["rows"], "ranks": comm.size, "checkpoint_ranks": meta.get("ranks"),
            "from": str(restart)}]
    checkpoints = fine is not None and (oc.checkpoint_every > 0 or oc.checkpoint_wall > 0)
    info.update(started=started, restarts=restarts, files={
        "errors": "errors.csv" if setup.sampler is not None and setup.solvers else None,
        "fine": "fine.csv" if fine is not None else None,
        "cuts": "cuts/" if setup.grid is not None else None,
        "fields": fields_name if oc.fields and fine is not None else None,
        "tensors": "tensors.json" if setup.tensors_info else None,
        "checkpoint": "checkpoint/checkpoint.npz" if checkpoints else None,
    }, config=cfg.raw)
    record.start(info)

    rows = int(meta["rows"]) if meta is not None else 0
    outputs = _Outputs(setup, fine, out_dir, restart, rows if meta is not None else None,
                       fields_name)
    kill = os.environ.get(KILL_AT_STEP_ENV, "")
    kill_at = int(kill) if kill.isdigit() else 0
    progress = Progress(oc.progress, cfg.time.t_end, "", comm, t_start=float(loop["t"]),
                        line=lambda r: ", ".join(f"{k} = {v:.4g}" for k, v in r.items()
                                                 if k != "t"))
    fine_s, last_ck = 0.0, time.monotonic()
    written = 0

    def checkpoint(t: float) -> None:
        nonlocal last_ck, written
        assert fine is not None and setup.wave is not None

        def meta_() -> dict[str, Any]:
            return {"format": CHECKPOINT_FORMAT, "femhomog_version": __version__,
                    "written": now(), "ranks": comm.size, "nodes": setup.wave.num_dofs,
                    "config_hash": config_hash(fingerprint), "config": fingerprint,
                    "restarts": restarts, "loop": dict(loop), "rows": rows, "t_out": t}

        save_fine_state(checkpoint_path(out_dir), setup.wave, fine.state(), meta_)
        last_ck, written = time.monotonic(), written + 1

    stop_flag, hook = StopFlag(comm), signal_hook()

    def boundary(t: float, *, final: bool = False, output: bool = False) -> None:
        """The one collective of a step boundary (after a propagation piece, or after
        an output row): a signal on any rank, rank 0's wall clock.  A due checkpoint
        is written; after a signal a checkpoint is written (if none was just now)
        and every rank raises :class:`RunStopped`, except at the final output."""
        late = oc.checkpoint_wall > 0 and time.monotonic() - last_ck >= oc.checkpoint_wall
        signum, late = stop_flag.agree(late)
        if fine is None:  # effective solutions only: nothing to checkpoint
            if signum and not final:
                raise RunStopped(signum, collective=True, where=f"at t = {t:.6g}")
            return
        every = oc.checkpoint_every > 0 and fine.pieces % oc.checkpoint_every == 0
        written_now = checkpoints and (every or late or final and output)
        if written_now:
            checkpoint(t)
        if signum and not final:
            if not written_now:
                checkpoint(t)
            raise RunStopped(signum, collective=True, checkpoint=str(checkpoint_path(out_dir)),
                             where=f"at t = {t:.6g} after {fine.pieces} propagation pieces")

    def propagate() -> None:
        nonlocal fine_s, rows
        t_now = float(loop["t"])
        for t_out in times:
            target = fine.reachable(t_out) if fine is not None else t_out
            if target <= t_now * (1 + 1e-12):
                continue  # written before the checkpoint
            if fine is not None:
                resume_segment = loop["seg_to"] is not None and loop["seg_to"] == target
                if not resume_segment:
                    n, _ = fine.plan(t_now, target)
                    loop.update(seg_from=t_now, seg_to=target, piece=0, pieces_in_segment=n)
                t_seg = time.perf_counter()
                for j in range(int(loop["piece"]) + 1, int(loop["pieces_in_segment"]) + 1):
                    fine.advance_piece(float(loop["seg_from"]), target, j,
                                       int(loop["pieces_in_segment"]))
                    loop.update(t=fine.t, piece=j, pieces=fine.pieces, matmults=fine.matmults,
                                steps=getattr(fine.integrator, "steps", 0))
                    progress.step(fine.t)
                    if j < loop["pieces_in_segment"]:
                        boundary(fine.t)
                    if kill_at and fine.pieces == kill_at:
                        sys.stderr.flush()
                        os.kill(os.getpid(), signal.SIGKILL)
                    hook.fire(fine.pieces, comm.rank)  # seen at the next boundary
                fine_s += time.perf_counter() - t_seg
                t_now = fine.t
            else:
                t_now = target
            row = outputs.record(t_now)
            rows += 1
            loop.update(seg_to=None, piece=0, pieces_in_segment=0, t=t_now)
            final = t_out == times[-1]
            progress.row(row, fine.pieces if fine is not None else 0, 0, final)
            boundary(t_now, final=final, output=True)

    status, error, stopped = "completed", None, None
    try:
        with deferring():
            propagate()
    except RunStopped as exc:  # collective: every rank stopped at the same boundary
        status, error, stopped = exc.status, exc.reason, exc
        if exc.checkpoint:
            record.info["files"]["checkpoint"] = "checkpoint/checkpoint.npz"
    except SolverError as exc:
        status, error = "failed", str(exc)
    finally:
        progress.close()
        outputs.close()
    matmults = fine.matmults if fine is not None else 0
    record.timings.update(fine_s=comm.allreduce(fine_s, op=MPI.MAX),
                          outputs_s=comm.allreduce(outputs.seconds, op=MPI.MAX))
    record.update(t_final=float(loop["t"]), rows=rows,
                  pieces=fine.pieces if fine is not None else 0, matmults=matmults,
                  seconds_per_matmult=(record.timings["fine_s"] / matmults
                                       if matmults else None),
                  checkpoints_written=written)
    if fine is not None:
        record.update(steps=getattr(fine.integrator, "steps", None))
        fine.destroy()
    setup.destroy()
    record.finish(status, error)
    if stopped is not None:
        raise stopped
    if error is not None:
        raise SolverError(error)
    return {**record.info, "run_json": str(record.path)}
