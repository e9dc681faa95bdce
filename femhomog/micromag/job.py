"""Driver of ``femhomog llg CONFIG --out DIR``: config -> objects -> :class:`~femhomog.Simulation`.

The objects come from :func:`femhomog.micromag.build.build_llg` (units, mesh,
terms, m(0), integrator); the time loop, tables, checkpoints and run.json are the
generic ones of :mod:`femhomog.timestepping`, with the LLG columns of
:mod:`femhomog.micromag.outputs`.

Files in DIR: ``averages.csv`` (appended row by row, see
:mod:`femhomog.timestepping.recorders`), ``run.json`` (written atomically with
``status = "running"`` before the first step and replaced at the end by
``"completed"`` or ``"failed"``), ``m.bp`` (``output.fields``), ``m_final.npz``
(``output.final``), ``checkpoint/checkpoint.npz``
(:mod:`femhomog.timestepping.checkpoint`; ``output.checkpoint_every``,
``output.checkpoint_wall``) and, with ``[relax]``, ``relax.csv`` and ``m_relaxed.npz``.

With ``[spin]`` (:mod:`femhomog.spin`) the loop advances the coupled problem:
``averages.csv`` gains ``sx, sy, sz, s_rms`` (and ``rho_mean``), ``spin.bp`` holds ``s``
(and ``rho``) on the conductor, and checkpoints and ``m_final.npz`` hold the conductor's
nodes: ``m`` (0 off the magnet), ``s``, ``s_prev`` (and ``rho``).

Restart (``femhomog llg CONFIG --restart DIR``): the configuration must equal
the checkpointed one except ``time.t_end`` and ``output.*``; ``m`` and the loop
state come from ``DIR/checkpoint/checkpoint.npz`` (any number of ranks),
``averages.csv`` is cut back to the rows written up to the checkpoint (later
rows came from the killed run and are computed again), the fields continue in
``m_restart<k>.bp`` (VTX files cannot be appended to; frames of earlier files
after the checkpoint time are superseded), and ``run.json`` counts the
restarts.  A run that completed is not run again unless ``time.t_end`` was
raised.
"""

from __future__ import annotations

import copy
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
from femhomog.micromag.build import LLGSetup, build_llg, build_stepper, build_terms
from femhomog.micromag.config import LlgJobConfig
from femhomog.micromag.outputs import llg_columns, llg_line, llg_postfix, llg_state
from femhomog.micromag.problem import LLGProblem
from femhomog.micromag.relax import relax
from femhomog.simulation import Simulation
from femhomog.spin.outputs import spin_columns, spin_fields
from femhomog.timestepping import (
    Checkpointer,
    FieldWriter,
    NodalLayout,
    RunRecord,
    ScalarLog,
    StateWriter,
    config_fingerprint,
    prepare_checkpoint_dir,
    read_checkpoint_arrays,
    read_checkpoint_meta,
    read_run_json,
    restore_checkpoint,
    save_state,
)
from femhomog.timestepping.checkpoint import CHECKPOINT_DIR, CHECKPOINT_FILE
from femhomog.timestepping.runinfo import now

__all__ = ["run_llg_job", "run_relaxation"]

log = get_logger(__name__)

#: Files of the relaxation phase in DIR.
RELAX_TABLE = "relax.csv"
RELAXED_STATE = "m_relaxed.npz"


# ====================================================================== relaxation
def run_relaxation(cfg: LlgJobConfig, setup: LLGSetup, out_dir: Path,
                   comm: MPI.Comm) -> dict[str, Any]:
    """The ``[relax]`` phase: relax ``setup.problem.m`` in place (collective).

    A second :class:`LLGProblem` on the same mesh, with the terms of the job
    except the Zeeman field (the same stray-field solver) and the damping
    ``relax.alpha``, is advanced by :func:`femhomog.micromag.relax.relax` (tangent
    plane with theta = 1, or midpoint) until ``max_i |m_i x H_i| < relax.torque_tol``.
    Every ``relax.check_every`` steps a row ``step, t, mx, my, mz, E_<term>...,
    E_total, torque`` goes to ``DIR/relax.csv`` (t in the relaxation's time: for SI
    in seconds of the dynamics with damping ``relax.alpha``, time unit
    ``(1 + relax.alpha^2)/(gamma Ms)``; energies in the output units); the relaxed
    state goes to ``DIR/m_relaxed.npz`` and into ``setup.problem.m``.

    Returns
    -------
    dict
        The relaxation summary for ``run.json`` (:meth:`RelaxResult.as_dict` in
        output units, rows, files).  If the torque did not fall below
        ``relax.torque_tol`` within ``relax.max_steps`` it has ``converged = False``
        and an ``error`` message; unless ``relax.allow_unconverged`` the state is
        then neither written nor copied into ``setup.problem`` (the job fails).

    Raises
    ------
    SolverError
        A step failed (non-finite torque, linear or Newton solver failure).
    """
    rc = cfg.relax
    units = setup.units
    prob = setup.problem
    # time unit of the relaxation dynamics (the LL time unit depends on alpha)
    scale_t = (units.time_unit * (1.0 + rc.alpha**2) / (1.0 + cfg.material.alpha**2)
               if units is not None else 1.0)
    terms = build_terms(cfg, units, setup.scales.time, zeeman=False, demag=setup.demag)
    rprob = LLGProblem(prob.mesh, terms, rc.alpha, periodic=prob.periodic or False)
    rprob.m.x.array[:] = prob.m.x.array
    stepper = build_stepper(cfg, rprob, relaxation=True)
    escale = setup.scales.energy
    now_: dict[str, Any] = {}  # the check being recorded (set by the callback)
    table = ScalarLog(out_dir / RELAX_TABLE, {
        "step": lambda: now_["step"],
        "t": lambda: now_["t"] * scale_t,
        ("mx", "my", "mz"): lambda: now_["avg"],
        (*[f"E_{t.name}" for t in terms], "E_total"):
            lambda: [now_["energies"][k] * escale for k in [*(t.name for t in terms), "total"]],
        "torque": lambda: now_["torque"],
    })
    table.open(comm)
    wall0 = time.perf_counter()
    last_log = [-np.inf]
    interval = cfg.output.progress

    def callback(step: int, t: float, energies: dict[str, float], torque: float) -> None:
        avg = rprob.average()
        now_.update(step=step, t=t, avg=avg, energies=energies, torque=torque)
        table.record()
        now = time.perf_counter()
        if interval is not None and now - last_log[0] >= interval:
            last_log[0] = now
            log.info("relax: step %d, t = %.6g%s, torque %.3e (tol %.1e), E = %.10g, "
                     "<m> = (%.6f, %.6f, %.6f), %.1f s", step, t * scale_t,
                     " s" if units is not None else "", torque, rc.torque_tol,
                     energies["total"] * escale, *avg, now - wall0)

    nondim = 1.0 / scale_t
    try:
        result = relax(stepper, dt=rc.dt * nondim, torque_tol=rc.torque_tol,
                       max_steps=rc.max_steps, check_every=rc.check_every,
                       dt_max=None if rc.dt_max is None else rc.dt_max * nondim,
                       callback=callback)
    finally:
        table.close()
        stepper.integrator.destroy()
    avg = rprob.average()
    summary = {
        **result.as_dict(),
        "t": result.t * scale_t,
        "energy": result.energy * escale,
        "torque_tol": rc.torque_tol,
        "alpha": rc.alpha,
        "average": avg.tolist(),
        "norm_dev": rprob.norm_deviation(),
        "rows": table.rows,
        "files": {"table": RELAX_TABLE, "state": RELAXED_STATE},
    }
    if not result.converged:
        msg = (f"relaxation did not converge: torque {result.torque:.3e} > relax.torque_tol = "
               f"{rc.torque_tol:.3e} after {result.steps} steps (raise relax.max_steps, "
               "change relax.dt, or set relax.allow_unconverged = true)")
        summary["error"] = msg
        if not rc.allow_unconverged:
            return summary
        log.warning("%s; continuing (relax.allow_unconverged)", msg)
    if result.energy_increases:
        log.warning("relax: the total energy increased at %d of %d checks",
                    result.energy_increases, len(result.history))
    save_state(out_dir / RELAXED_STATE, NodalLayout(llg_state(rprob)),
               length_scale=setup.length_scale, t=rprob.t)
    prob.m.x.array[:] = rprob.m.x.array
    prob.t = 0.0
    log.info("relax: %s after %d steps (t = %.6g%s), torque %.3e, <m> = (%.6f, %.6f, %.6f), "
             "%.1f s", "converged" if result.converged else "NOT converged", result.steps,
             result.t * scale_t, " s" if units is not None else "", result.torque, *avg,
             result.wall)
    return summary


# ====================================================================== the job
def _fingerprint(cfg: LlgJobConfig) -> dict[str, Any]:
    """The configuration fingerprint of checkpoints, without the keys added after a
    checkpoint format was fixed when they keep their defaults (``[spin]`` disabled,
    ``material.equation`` implied by the units): older checkpoints still restart."""
    raw = copy.deepcopy(cfg.raw)
    if not cfg.spin.enabled:
        raw.pop("spin", None)
    material = raw.get("material", {})
    if material.get("equation") in (None, "gilbert" if cfg.si else "landau_lifshitz"):
        material.pop("equation", None)
    return config_fingerprint(raw)


def _run_info(cfg: LlgJobConfig, setup: LLGSetup, comm: MPI.Comm) -> dict[str, Any]:
    """The run.json entries known before the first step."""
    prob, sc = setup.problem, setup.scales
    mesh = prob.mesh
    tdim = mesh.topology.dim
    return {
        "job": "llg",
        "femhomog_version": __version__,
        "dolfinx_version": dolfinx.__version__,
        "ranks": comm.size,
        "units": {
            "system": cfg.material.units,
            "time": sc.time_unit,
            "energy": sc.energy_unit,
            "time_unit_s": setup.units.time_unit if setup.units is not None else None,
            "si": setup.units.describe() if setup.units is not None else None,
        },
        "mesh": {
            "dim": tdim,
            "cells": mesh.topology.index_map(tdim).size_global,
            "nodes": prob.V.dofmap.index_map.size_global,
            "periodic": prob.periodic is not None,
            "builder": cfg.mesh.builder,
            **({"gmsh": setup.magnet_mesh.info} if setup.magnet_mesh is not None else {}),
        },
        "problem": prob.describe(),
        "integrator": setup.stepper.describe(),
        **({"spin": setup.spin.describe()} if setup.spin is not None else {}),
    }


def run_llg_job(cfg: LlgJobConfig, *, out_dir: Path, comm: MPI.Comm,
                restart: Path | None = None) -> dict[str, Any]:
    """Run an LLG job: ``averages.csv``, ``run.json`` and optional fields in ``out_dir``.

    Everything that can be checked is checked before anything is written to
    ``out_dir`` (a bad input leaves no ``run.json``).

    Parameters
    ----------
    cfg
        The validated job.
    out_dir
        Output directory.
    comm
        Communicator of the run.
    restart
        Output directory of an earlier run of the same configuration (up to
        ``time.t_end`` and ``output.*``) to continue from its checkpoint;
        usually ``out_dir`` itself.

    Returns
    -------
    dict
        The content of the final ``run.json`` plus ``run_json`` (its path).
        A restart of a completed run (checkpoint at ``t_end``) runs nothing and
        returns the earlier ``run.json`` with ``already_completed = True``.

    Raises
    ------
    ConfigError, MeshError
        Bad input (before any file is written); on restart also a missing,
        damaged or mismatched checkpoint, or an unusable ``averages.csv``.
    SolverError
        A step failed; ``run.json`` then has ``status = "failed"`` and the
        error, ``averages.csv`` the rows up to the failure.
    """
    record = RunRecord(Path(out_dir) / "run.json", comm)
    out_dir = Path(out_dir)
    fingerprint = _fingerprint(cfg)
    meta: dict[str, Any] | None = None
    old_info: dict[str, Any] = {}
    unit = " s" if cfg.si else ""
    if restart is not None:
        restart = Path(restart)
        meta = read_checkpoint_meta(restart, fingerprint, comm)
        old_info = read_run_json(restart, comm)
        t_ck, t_end = float(meta["t_out"]), cfg.time.t_end
        if t_ck > t_end * (1 + 1e-9):
            raise ConfigError(f"--restart: the checkpoint is at t = {t_ck:.6g}{unit}, after "
                              f"time.t_end = {t_end:.6g}{unit}")
        if t_ck >= t_end * (1 - 1e-9) and old_info.get("status") == "completed":
            log.info("llg: the run in %s already completed at t = %.6g%s; nothing to do "
                     "(raise time.t_end to continue it)", restart, t_ck, unit)
            return {**old_info, "already_completed": True,
                    "run_json": str(restart / "run.json")}

    setup = build_llg(cfg, comm)
    record.timings["setup_s"] = record.elapsed(record.t0)
    prob, sc = setup.problem, setup.scales
    # with [spin] the state lives on the conductor's nodes (m, s, its history, rho)
    state = llg_state(prob) if setup.spin is None else setup.spin.checkpoint_state()
    # a multistep integrator's previous state (BDF2) is part of the checkpoint
    previous = getattr(getattr(setup.stepper, "integrator", None), "previous", None)
    ck_state = state if previous is None else {**state, "m_prev": previous}
    if restart is not None:
        meta = restore_checkpoint(restart, ck_state)
        if setup.spin is not None:
            loop = meta["loop"]
            names = setup.spin.checkpoint_array_names  # P2 spin dofs
            arrays = read_checkpoint_arrays(restart, names, comm) if names else None
            setup.spin.restored(loop["dt"] if loop["stats"]["steps"] else None, arrays)
    info = _run_info(cfg, setup, comm)
    mesh = info["mesh"]
    log.info("llg: %dD mesh, %d cells, %d nodes, periodic %s, terms %s, integrator %s",
             mesh["dim"], mesh["cells"], mesh["nodes"], mesh["periodic"],
             ", ".join(t.name for t in prob.terms),
             info["integrator"]["name"] + (" (adaptive)" if setup.stepper.adaptive else ""))

    if comm.rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    prepare_checkpoint_dir(out_dir, restart is None or out_dir.resolve() != restart.resolve(),
                           comm)
    oc = cfg.output
    restarts, fields_name, started = 0, "m.bp", now()
    if meta is not None:
        assert restart is not None
        restarts = max(int(meta.get("restarts", 0)), int(old_info.get("restarts", 0))) + 1
        fields_name = f"m_restart{restarts}.bp"
        started = old_info.get("started", started)
        info["restart_history"] = [*old_info.get("restart_history", []), {
            "at": now(), "t": meta["t_out"], "step": meta["loop"]["stats"]["steps"],
            "rows": meta["rows"], "ranks": comm.size, "checkpoint_ranks": meta.get("ranks"),
            "from": str(restart)}]
    old_fields = old_info.get("files", {}).get("fields") if meta is not None else None
    if isinstance(old_fields, str):
        old_fields = [old_fields]
    more = (setup.spin.checkpoint_arrays
            if setup.spin is not None and setup.spin.checkpoint_array_names else None)
    checkpoint = Checkpointer(out_dir, ck_state, every=oc.checkpoint_every,
                              wall=oc.checkpoint_wall, fingerprint=fingerprint,
                              extra={"restarts": restarts, "phase": "field"}, arrays=more)
    info = {"job": info.pop("job"), "status": "running", **info, "started": started,
            "restarts": restarts}
    info["files"] = {
        "averages": "averages.csv",
        "fields": [*(old_fields or []), fields_name] if oc.fields else (old_fields or None),
        "final_state": "m_final.npz" if oc.final else None,
        "checkpoint": f"{CHECKPOINT_DIR}/{CHECKPOINT_FILE}" if checkpoint.enabled else None,
    }
    if setup.spin is not None and info["files"]["fields"]:
        info["files"]["spin_fields"] = [f.replace("m", "spin", 1)
                                        for f in info["files"]["fields"]]
    info["config"] = cfg.raw
    record.start(info)

    relax_info: dict[str, Any] | None = None
    if cfg.relax.enabled:
        if meta is not None:  # field-phase checkpoint: the relaxation is not repeated
            relax_info = meta.get("relax") or old_info.get("relax")
        else:
            error = None
            try:
                t_relax = time.perf_counter()
                relax_info = run_relaxation(cfg, setup, out_dir, comm)
                record.timings["relax_s"] = record.elapsed(t_relax)
                error = relax_info.get("error") if not relax_info["converged"] else None
                if cfg.relax.allow_unconverged:
                    error = None
            except SolverError as exc:  # collective
                error = f"relaxation failed: {exc}"
            if error is not None:
                record.update(relax=relax_info)
                record.finish("failed", error)
                raise SolverError(error)
            if setup.spin is not None:  # s (quasi-static) and the transfers follow m
                setup.spin.initialize()
        record.update(relax=relax_info)
        record.info["files"].update(relax_table=RELAX_TABLE, relaxed_state=RELAXED_STATE)
    checkpoint.extra["relax"] = relax_info

    columns = llg_columns(prob, sc)
    if setup.spin is not None:
        columns.update(spin_columns(setup.spin))
    outputs: list[Any] = [ScalarLog(out_dir / "averages.csv", columns,
                                    source=restart / "averages.csv" if restart else None)]
    if oc.fields:
        outputs.append(FieldWriter(out_dir / fields_name, [prob.m]))
        if setup.spin is not None:  # s and rho on the conductor: a file of their own
            outputs.append(FieldWriter(out_dir / fields_name.replace("m", "spin", 1),
                                       spin_fields(setup.spin)))
    if oc.final:
        outputs.append(StateWriter(out_dir / "m_final.npz", state, time=lambda: prob.t,
                                   length_scale=setup.length_scale))
    if setup.demag is not None:
        demag = setup.demag
        record.add_finalizer(lambda: {"demag": demag.describe()})
    sim = Simulation(setup.run_problem, setup.stepper, outputs=outputs, checkpoint=checkpoint,
                     run_record=record, time_scale=sc.time, time_unit=sc.time_unit,
                     progress=oc.progress, line=llg_line, postfix=llg_postfix, name="LLG",
                     timing="field_s")
    if meta is not None:
        sim.resume(meta)
        log.info("llg: restart %d from t = %.6g%s (step %d, %d rows) of %s", restarts,
                 meta["t_out"], " s" if sc.time_unit == "s" else "",
                 meta["loop"]["stats"]["steps"], meta["rows"], restart)
    sim.run(setup.t_end, dt=setup.dt, every=oc.every, dt_out=setup.dt_out)
    return {**record.info, "run_json": str(record.path)}
