"""The ``femhomog`` command line, without the physics (serial, fast).

Error paths run the real command in a subprocess (exit status, exactly one
stderr line, no traceback); the happy path calls :func:`main` in-process with
``run_cell_job`` replaced by a stub.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import BIN, assert_one_error_line, clean_env, run_cli

import femhomog
from femhomog import ConfigError, FemhomogError, SolverError
from femhomog.cell.command import format_cell_summary
from femhomog.cell.config import CELL_SCHEMA, CellJobConfig, load_cell_config
from femhomog.cli.main import main
from femhomog.io.job import Job
from femhomog.io.logging import get_logger, setup_logging
from femhomog.io.output import write_json_atomic
from femhomog.io.schema import Schema, integer, option, section
from femhomog.micromag.config import LLG_SCHEMA
from femhomog.wave.config import WAVE_SCHEMA

GOOD = """
[cell]
dim = 2
coefficient = "1 + 0.5*sin(2*pi*y[0])"
cells_per_side = 4
degree = 1
"""


def femhomog_cli(*args: str, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(args, cwd, env=env, timeout=120)


@pytest.fixture(autouse=True)
def _restore_femhomog_logger() -> Any:
    """main() configures the 'femhomog' logger; do not leak that into other tests."""
    logger = logging.getLogger("femhomog")
    saved = (list(logger.handlers), list(logger.filters), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.filters[:], logger.level, logger.propagate = (
        saved[0], saved[1], saved[2], saved[3])


@pytest.fixture
def good_config(tmp_path: Path) -> Path:
    path = tmp_path / "job.toml"
    path.write_text(GOOD)
    return path


@pytest.fixture
def stub_job(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace the physics with a stub that records its calls."""
    import femhomog.cell.job

    calls: list[dict[str, Any]] = []

    def run_cell_job(cfg: CellJobConfig, *, out_dir: Path, comm: Any) -> dict[str, Any]:
        calls.append({"cfg": cfg, "out_dir": out_dir, "comm": comm})
        return {"a0": [[1.25, 0.0], [0.0, 1.5]], "dofs": 16, "ranks": comm.Get_size(),
                "wall_time_s": 0.125}

    monkeypatch.setattr(femhomog.cell.job, "run_cell_job", run_cell_job)
    return calls


# --------------------------------------------------------------------------- subprocess


@pytest.mark.parametrize(("toml", "args", "contains"), [
    (GOOD + "foo = 1\n", (), "unknown key 'cell.foo' (allowed: "),
    (GOOD + "[bar]\n", (), "unknown section 'bar'"),
    (GOOD.replace("dim = 2", "dim = 4"), (), "cell.dim must be 1, 2 or 3, got 4"),
    (GOOD + "[solver]\nrtol = 2\n", (), "solver.rtol must be a number in (0, 1), got 2"),
    (GOOD.replace('coefficient = "1 + 0.5*sin(2*pi*y[0])"', "materials = {1 = 2.0}"), (),
     "cell.materials requires cell.mesh"),
    (GOOD + 'mesh = "missing.msh"\n', (), "cell.mesh: file not found: "),
    ("[cell\ndim = 2\n", (), "invalid TOML"),
    (GOOD, ("--set", "cell.degree=0"), "cell.degree must be an integer >= 1, got 0"),
    (GOOD, ("--set", "cell.degree"), "bad override 'cell.degree'"),
    (GOOD, ("--set", "cell.nope=1"), "unknown key 'cell.nope'"),
])
def test_invalid_config_one_error_line(tmp_path: Path, toml: str, args: tuple[str, ...],
                                       contains: str) -> None:
    config = tmp_path / "job.toml"
    config.write_text(toml)
    proc = femhomog_cli("cell", str(config), "--out", str(tmp_path / "out"), *args)
    assert_one_error_line(proc, contains)
    assert not (tmp_path / "out").exists()


def test_missing_config_file_one_error_line(tmp_path: Path) -> None:
    proc = femhomog_cli("cell", str(tmp_path / "nothere.toml"), "--out", str(tmp_path / "o"))
    assert_one_error_line(proc, "config file not found")


def test_out_is_a_file(tmp_path: Path, good_config: Path) -> None:
    (tmp_path / "file").write_text("")
    proc = femhomog_cli("cell", str(good_config), "--out", str(tmp_path / "file"))
    assert_one_error_line(proc, "exists and is not a directory")


def test_only_rank_0_prints_the_error(tmp_path: Path) -> None:
    """Every rank fails the same way; ranks > 0 exit quietly with the same status."""
    config = tmp_path / "job.toml"
    config.write_text("[cell]\ndim = 4\n")
    proc = femhomog_cli("cell", str(config), "--out", str(tmp_path / "o"),
                        env=clean_env(PMI_RANK="1", PMI_SIZE="2"))
    assert (proc.returncode, proc.stderr, proc.stdout) == (2, "", "")


def test_console_script_entry_point(tmp_path: Path) -> None:
    script = BIN / "femhomog"
    if not script.exists():
        pytest.skip("femhomog console script not installed next to this interpreter")
    config = tmp_path / "job.toml"
    config.write_text("[cell]\ndegree = 'two'\ndim = 2\n")
    proc = subprocess.run([str(script), "cell", str(config), "--out", str(tmp_path / "o")],
                          env=clean_env(), capture_output=True, text=True, timeout=120,
                          check=False)
    assert_one_error_line(proc, "cell.degree must be an integer >= 1, got 'two'")


def test_version() -> None:
    proc = femhomog_cli("--version")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"femhomog {femhomog.__version__}"
    if importlib.util.find_spec("dolfinx") is not None:
        assert len(lines) == 2 and lines[1].startswith("dolfinx 0.")


def test_print_config_round_trips(tmp_path: Path) -> None:
    proc = femhomog_cli("cell", "--print-config")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("# femhomog cell job")
    cfg = load_cell_config(None, text=proc.stdout)
    assert (cfg.cell.dim, cfg.cell.cell_type, cfg.solver.type) == (2, "quadrilateral", "auto")
    # ... and as a file given to the command (fails only when the physics is reached).
    (tmp_path / "template.toml").write_text(proc.stdout)
    assert load_cell_config(tmp_path / "template.toml") == cfg


@pytest.mark.parametrize("args", [
    (),                                      # no command
    ("cell",),                               # no CONFIG
    ("cell", "job.toml"),                    # no --out
    ("cell", "--print-config", "job.toml"),  # --print-config takes nothing else
    ("cell", "job.toml", "--out", "o", "-v", "-q"),
    ("mesh",),                               # unknown command
])
def test_usage_errors_are_argparse(args: tuple[str, ...]) -> None:
    proc = femhomog_cli(*args)
    assert proc.returncode == 2
    assert "usage: femhomog" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_lists_cell() -> None:
    proc = femhomog_cli("--help")
    assert proc.returncode == 0 and "cell" in proc.stdout
    proc = femhomog_cli("cell", "--help")
    assert proc.returncode == 0 and "--print-config" in proc.stdout and "--set" in proc.stdout


# --------------------------------------------------------------------------- in-process


def test_cell_happy_path(good_config: Path, tmp_path: Path, stub_job: list[dict[str, Any]],
                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results"
    assert main(["cell", str(good_config), "--out", str(out), "--set", "cell.degree=3",
                 "--set", "solver.type=direct", "-q"]) == 0
    (call,) = stub_job
    cfg = call["cfg"]
    assert isinstance(cfg, CellJobConfig)
    assert (cfg.cell.degree, cfg.solver.type, cfg.cell.cells_per_side) == (3, "direct", 4)
    assert cfg.raw["cell"]["degree"] == 3
    assert call["out_dir"] == out and isinstance(call["out_dir"], Path)
    from mpi4py import MPI

    assert call["comm"] is MPI.COMM_WORLD
    captured = capsys.readouterr()
    assert "a^0" in captured.out and "1.25" in captured.out
    assert "dofs 16 on 1 rank" in captured.out
    assert str(out / "tensors.json") in captured.out
    assert captured.err == ""  # -q: no INFO lines


def test_cell_logs_info_to_stderr(good_config: Path, tmp_path: Path,
                                  stub_job: list[dict[str, Any]],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cell", str(good_config), "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "INFO femhomog.cli.main: femhomog" in err and "cell job" in err
    assert err.startswith("[")  # elapsed-time column


@pytest.mark.parametrize("exc", [SolverError("CG diverged (reason -3) after 2000 iterations"),
                                 ConfigError("cell.coefficient: bad expression 'sin('"),
                                 FemhomogError("multi\nline message")])
def test_femhomog_error_in_job(good_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str], exc: Exception) -> None:
    import femhomog.cell.job

    def failing(cfg: Any, *, out_dir: Path, comm: Any) -> dict:
        raise exc

    monkeypatch.setattr(femhomog.cell.job, "run_cell_job", failing)
    assert main(["cell", str(good_config), "--out", str(tmp_path / "o"), "-q"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    expected = " ".join(str(exc).split())
    assert captured.err == f"femhomog: error: {expected}\n"


def test_keyboard_interrupt(good_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    import femhomog.cell.job

    def interrupted(cfg: Any, *, out_dir: Path, comm: Any) -> dict:
        raise KeyboardInterrupt

    monkeypatch.setattr(femhomog.cell.job, "run_cell_job", interrupted)
    assert main(["cell", str(good_config), "--out", str(tmp_path / "o"), "-q"]) == 130
    assert capsys.readouterr().err.splitlines() == ["femhomog: interrupted"]


def test_bug_in_job_keeps_traceback(good_config: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import femhomog.cell.job

    def buggy(cfg: Any, *, out_dir: Path, comm: Any) -> dict:
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(femhomog.cell.job, "run_cell_job", buggy)
    with pytest.raises(ZeroDivisionError):
        main(["cell", str(good_config), "--out", str(tmp_path / "o"), "-q"])


def test_config_error_in_process(tmp_path: Path, stub_job: list[dict[str, Any]],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "job.toml"
    config.write_text(GOOD.replace("degree = 1", "degree = 0"))
    assert main(["cell", str(config), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == (
        "femhomog: error: cell.degree must be an integer >= 1, got 0\n")
    assert stub_job == []  # the physics is never reached


def test_print_config_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cell", "--print-config"]) == 0
    text = capsys.readouterr().out
    assert load_cell_config(None, text=text).cell.dim == 2


@pytest.mark.parametrize(("job", "schema"), [("cell", CELL_SCHEMA), ("llg", LLG_SCHEMA),
                                             ("wave", WAVE_SCHEMA)])
def test_print_config_is_valid_toml_of_the_schema(job: str, schema: Any,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main([job, "--print-config"]) == 0
    text = capsys.readouterr().out
    assert text == schema.template()
    document = tomllib.loads(text)
    assert list(document) == schema.section_names()  # every table, in order
    schema.validate(document)
    assert isinstance(schema.load(None, text=text), schema.config)


@dataclass(frozen=True, kw_only=True)
class _ToyConfig:
    toy: _ToySection
    raw: dict


@section("toy")
class _ToySection:
    n: int = option(integer(1), 1, "n")


_TOY_CALLS: list[dict[str, Any]] = []


def _run_toy(cfg: _ToyConfig, *, out_dir: Path, comm: Any, restart: Path | None) -> dict:
    _TOY_CALLS.append({"n": cfg.toy.n, "out_dir": out_dir, "restart": restart})
    return {"twice": 2 * cfg.toy.n}


def test_a_job_is_one_entry_of_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    import femhomog.cli.main

    toy = Job(name="toy", help="a toy job", schema=Schema.of(_ToyConfig, job="toy"),
              run=f"{__name__}:_run_toy", restartable=True,
              summary=lambda result, out_dir, restart: f"twice = {result['twice']} in {out_dir}")
    monkeypatch.setattr(femhomog.cli.main, "JOBS", (*femhomog.cli.main.JOBS, toy))
    parser = femhomog.cli.main.build_parser()
    assert "toy" in parser.format_help() and "a toy job" in parser.format_help()
    config = tmp_path / "toy.toml"
    config.write_text("[toy]\nn = 3\n")
    _TOY_CALLS.clear()
    assert main(["toy", str(config), "--out", str(tmp_path / "o"), "--set", "toy.n=4", "-q"]) == 0
    assert _TOY_CALLS == [{"n": 4, "out_dir": tmp_path / "o", "restart": None}]
    assert capsys.readouterr().out == f"twice = 8 in {tmp_path / 'o'}\n"
    assert main(["toy", "--print-config"]) == 0
    assert "[toy]\n# n\nn = 1\n" in capsys.readouterr().out
    assert main(["toy", str(config), "--set", "toy.nn=1", "--out", str(tmp_path / "o")]) == 2
    assert "bad override 'toy.nn=1': unknown key 'toy.nn' (allowed: n); did you mean 'n'?" in capsys.readouterr().err


def test_jobs_are_the_subcommands() -> None:
    from femhomog.cli.main import JOBS, build_parser

    assert [job.name for job in JOBS] == ["cell", "llg", "wave"]
    helps = {job.name: build_parser().parse_args([job.name, "--print-config"]) for job in JOBS}
    assert all(args.print_config for args in helps.values())
    assert not hasattr(helps["cell"], "restart") and helps["llg"].restart is None
    assert helps["wave"].restart is None


def test_format_cell_summary_variants(tmp_path: Path) -> None:
    text = format_cell_summary({"a0": [[2.0]], "dofs": 12345, "ranks": 4, "wall_time_s": 3},
                               tmp_path)
    assert "1 x 1" in text and "dofs 12,345 on 4 ranks" in text and "wall time 3.00 s" in text
    text = format_cell_summary({"a0": 2.0, "tensors_json": "/x/t.json"}, tmp_path)
    assert text.endswith("tensors: /x/t.json")


# --------------------------------------------------------------------------- logging, output


def test_rank_filter(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    if "mpi4py.MPI" in sys.modules:
        # The rank then comes from MPI itself (0 in this serial process).
        monkeypatch.setitem(sys.modules, "mpi4py.MPI", None)
    log = get_logger("femhomog.test_rank_filter")
    monkeypatch.setenv("PMI_RANK", "1")
    monkeypatch.setenv("PMI_SIZE", "2")
    with caplog.at_level(logging.INFO, logger="femhomog"):
        log.info("only on rank 0")
        log.warning("disk %s", "full")
    assert [r.getMessage() for r in caplog.records] == ["[rank 1] disk full"]
    monkeypatch.setenv("PMI_RANK", "0")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="femhomog"):
        log.info("hello")
    assert [r.getMessage() for r in caplog.records] == ["hello"]


def test_setup_logging_levels() -> None:
    assert setup_logging(-1).level == logging.WARNING
    assert setup_logging(0).level == logging.INFO
    logger = setup_logging(2)
    assert logger.level == logging.DEBUG
    # Re-configuring replaces our handler instead of stacking them.
    assert sum(getattr(h, "_femhomog_handler", False) for h in logger.handlers) == 1


def test_write_json_atomic(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    target = tmp_path / "sub" / "tensors.json"
    assert write_json_atomic(target, {"a0": np.eye(2), "n": np.int64(3), "p": target}) == target
    assert json.loads(target.read_text()) == {"a0": [[1.0, 0.0], [0.0, 1.0]], "n": 3,
                                              "p": str(target)}
    write_json_atomic(target, {"v": 2}, None)
    assert json.loads(target.read_text()) == {"v": 2}
    assert sorted(p.name for p in target.parent.iterdir()) == ["tensors.json"]  # no temp files
    assert target.stat().st_mode & 0o044 == 0o044  # readable like an ordinary file
    write_json_atomic(target, {"a0": [[1.5, 0.0], [0.0, 2.0]]})
    assert "    [1.5, 0.0],\n" in target.read_text()  # one matrix row per line


def test_write_json_atomic_errors(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(FemhomogError, match="cannot write"):
        write_json_atomic(tmp_path / "file" / "t.json", {}, None)
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "t.json", {"x": object()}, None)
    assert list(tmp_path.iterdir()) == [tmp_path / "file"]  # temp file removed


class _FakeComm:
    """Rank 1 of 2: bcast returns what rank 0 would have sent."""

    def __init__(self, sent: Any) -> None:
        self.sent = sent

    def Get_rank(self) -> int:
        return 1

    def Get_size(self) -> int:
        return 2

    def bcast(self, obj: Any, root: int = 0) -> Any:
        return self.sent


def test_write_json_atomic_failure_on_rank_0_raises_everywhere(tmp_path: Path) -> None:
    target = tmp_path / "t.json"
    assert write_json_atomic(target, {}, _FakeComm(None)) == target
    assert not target.exists()  # only rank 0 writes
    with pytest.raises(FemhomogError, match="cannot write"):
        write_json_atomic(target, {}, _FakeComm(("os", "cannot write t.json: No space")))
    with pytest.raises(RuntimeError, match="rank 0 failed"):
        write_json_atomic(target, {}, _FakeComm(("other", "rank 0 failed to write t.json")))
