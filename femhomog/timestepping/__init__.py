"""A generic time-stepping layer: loop, steppers, recorders, checkpoints, run.json.

Nothing here knows a physics: a problem offers a time ``t`` and a communicator
``comm``, an integrator ``step(dt)`` (and optionally ``adaptive_step(dt, tol)``)
(:mod:`.protocol`).  LLG (:mod:`femhomog.micromag`) runs on it; so will spin
diffusion and waves.

``protocol``    the problem/integrator protocol, fixed and adaptive steppers, LoopStats
``loop``        :class:`TimeLoop`: steps to t_end landing on output times, checkpoints
``recorders``   :class:`ScalarLog` (CSV of callable columns), :class:`FieldWriter` (VTX),
                :class:`StateWriter` (nodal state at the end)
``state``       nodal state files keyed by the mesh's input indices (any rank count)
``checkpoint``  :class:`Checkpointer`, restore, configuration fingerprint
``dofkeys``     P1/P2 dofs keyed by mesh node pairs (P2 states in checkpoints)
``runinfo``     :class:`RunRecord`: the run.json lifecycle
``stop``        SIGTERM/SIGINT/SIGUSR1 stop every rank at the next step (:class:`RunStopped`)
``progress``    :class:`Progress`: tqdm bar on a TTY, log lines otherwise

The public facade on top is :class:`femhomog.Simulation`.
"""

from femhomog.timestepping.checkpoint import (
    Checkpointer,
    checkpoint_path,
    config_fingerprint,
    prepare_checkpoint_dir,
    read_checkpoint_arrays,
    read_checkpoint_meta,
    restore_checkpoint,
)
from femhomog.timestepping.loop import TimeLoop
from femhomog.timestepping.progress import Progress
from femhomog.timestepping.protocol import (
    AdaptiveStepper,
    FixedStepper,
    Integrator,
    LoopStats,
    Problem,
    StepResult,
    make_stepper,
)
from femhomog.timestepping.recorders import FieldWriter, ScalarLog, StateWriter
from femhomog.timestepping.runinfo import RunRecord, read_run_json
from femhomog.timestepping.state import NodalLayout, save_state, values_at_nodes

__all__ = [
    "AdaptiveStepper",
    "Checkpointer",
    "FieldWriter",
    "FixedStepper",
    "Integrator",
    "LoopStats",
    "NodalLayout",
    "Problem",
    "Progress",
    "RunRecord",
    "ScalarLog",
    "StateWriter",
    "StepResult",
    "TimeLoop",
    "checkpoint_path",
    "config_fingerprint",
    "make_stepper",
    "prepare_checkpoint_dir",
    "read_checkpoint_arrays",
    "read_checkpoint_meta",
    "read_run_json",
    "restore_checkpoint",
    "save_state",
    "values_at_nodes",
]
