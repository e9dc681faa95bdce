"""Fuzz test of the configuration / command-line layer of every job.

A seeded generator (reproducible: the failing case is printed with its seed)
mutates each job's own ``--print-config`` template: keys removed or given values
of other types (negative, zero, huge, inf, nan, strings, lists, tables), unknown
keys and sections, sections replaced by scalars, random ``--set`` overrides, and
raw text damage (truncation, inserted bytes, duplicated lines).  Every input must
end in exit 0 or exactly one line ``femhomog: error: ...`` with exit 2 -- never a
traceback, an unexpected exception or a hang (each case has an alarm).  The
inputs go through ``femhomog JOB CONFIG --check`` (validation only, nothing
computed), in-process; the ``mpi`` variant runs a smaller set on every rank of
``mpirun -n 2`` (the same verdict on every rank, one line from rank 0).
"""

from __future__ import annotations

import json
import math
import random
import signal
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import error_lines

SEED = 20261205
CASE_SECONDS = 20


def _jobs() -> list[Any]:
    from femhomog.cli.main import JOBS

    return list(JOBS)


# ------------------------------------------------------------------ TOML writer
def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string for these (no control characters)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def dump(doc: dict[str, Any]) -> str:
    top = [f"{json.dumps(k)} = {_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    parts = ["\n".join(top)] if top else []
    for name, table in doc.items():
        if isinstance(table, dict):
            body = "\n".join(f"{json.dumps(k)} = {_value(v)}" for k, v in table.items())
            parts.append(f"[{json.dumps(name)}]\n{body}")
    return "\n\n".join(parts) + "\n"


# ------------------------------------------------------------------ generator
ATOMS: list[Any] = [0, 1, -1, 2, 3, 7, 10**9, 10**30, 0.0, -0.5, 0.5, 1e-300, 1e300,
                    float("inf"), float("-inf"), float("nan"), True, False, "", "x",
                    "auto", "direct", "1 + sin(2*pi*y[0])", "nonsense(", "x[7]",
                    "../missing.msh", "/proc/self", [], [1], [1, 2, 3], [0, 0, 0],
                    ["a", 1], [[1, 0], [0, 1]], [[1, 2], [3, 4]], {}, {"a": 1}]


def random_value(rng: random.Random, default: Any) -> Any:
    roll = rng.random()
    if roll < 0.6:
        return rng.choice(ATOMS)
    if isinstance(default, int | float) and not isinstance(default, bool):
        return rng.choice([default * 10**rng.randint(-12, 12), -default, default + 0.5,
                           int(default) if math.isfinite(default) else 0])
    if isinstance(default, list) and default:
        return [rng.choice(ATOMS) for _ in range(rng.randint(0, len(default) + 1))]
    return rng.choice(ATOMS)


def mutate(rng: random.Random, doc: dict[str, Any]) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))  # deep copy (templates hold plain TOML values)
    for _ in range(rng.randint(1, 4)):
        sections = [k for k, v in doc.items() if isinstance(v, dict)]
        kind = rng.random()
        if not sections or kind < 0.05:
            doc[rng.choice(["bogus", "mesh", "cell", "time"])] = rng.choice(ATOMS)
            continue
        sec = rng.choice(sections)
        table = doc[sec]
        keys = list(table)
        if kind < 0.15:
            del doc[sec]
        elif kind < 0.2:
            doc[sec] = rng.choice(ATOMS)
        elif kind < 0.3:
            table[rng.choice(["bogus", "tol", "dim", "type"])] = rng.choice(ATOMS)
        elif keys and kind < 0.45:
            del table[rng.choice(keys)]
        elif keys:
            key = rng.choice(keys)
            table[key] = random_value(rng, table[key])
    return doc


def damage(rng: random.Random, text: str) -> str:
    roll = rng.random()
    if roll < 0.3:
        return text[: rng.randint(0, len(text))]
    if roll < 0.6:
        i = rng.randint(0, len(text))
        return text[:i] + rng.choice(["=", "[", "]", "\"", "\n[x", "\x00", "é", "= =",
                                      "\n[mesh]\n", "{", "'''"]) + text[i:]
    lines = text.splitlines()
    if not lines:
        return text
    i = rng.randrange(len(lines))
    return "\n".join(lines[: i + 1] + [lines[i]] + lines[i + 1:])


def random_set(rng: random.Random, doc: dict[str, Any]) -> str:
    sections = [k for k, v in doc.items() if isinstance(v, dict) and v] or ["mesh"]
    sec = rng.choice(sections)
    key = rng.choice(list(doc.get(sec) or {"dim": 1}))
    value = rng.choice(["1", "-1", "inf", "nan", "true", "\"s\"", "[1,2]", "", "=", "{a=1}",
                        "1e400", "[", "0"])
    return rng.choice([f"{sec}.{key}={value}", f"{sec}={value}", f"{key}", f"{sec}.{key}",
                       f"nosuch.{key}={value}"])


def cases(job: Any, n: int, seed: int) -> Iterator[tuple[int, str, list[str]]]:
    template = job.schema.template()
    doc = tomllib.loads(template)
    rng = random.Random(f"{seed}-{job.name}")
    yield 0, template, []
    yield 1, "", []
    for i in range(2, n):
        roll = rng.random()
        if roll < 0.55:
            text = dump(mutate(rng, doc))
        elif roll < 0.8:
            text = damage(rng, template)
        else:
            text = template
        sets = [random_set(rng, doc) for _ in range(rng.randint(0, 2))] if roll > 0.45 else []
        yield i, text, sets


# ------------------------------------------------------------------ runner
class _Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang


def check_case(job: Any, text: str, sets: list[str], path: Path, capsys: Any,
               rank: int = 0) -> int:
    """Run one input; assert exit 0 or one error line (rank 0); return the exit code."""
    from femhomog.cli.main import main

    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    args = [job.name, str(path), "--check"]
    for s in sets:
        args += ["--set", s]
    capsys.readouterr()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_SECONDS)
    try:
        code = main(args)
    except _Hang:
        pytest.fail(f"hang: {args}\n{text}")
    except SystemExit as exc:  # argparse: a --set that looks like an option, etc.
        code = exc.code if isinstance(exc.code, int) else 2
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    out, err = capsys.readouterr()
    assert "Traceback" not in err, (args, text, err)
    if code == 0:
        assert err.strip() == "" and ("valid femhomog" in out or rank != 0), (args, text, err)
        return 0
    assert code == 2, (code, args, text, err)
    if rank == 0:
        lines = err.strip().splitlines()
        if lines and lines[0].startswith("usage:"):  # argparse's own usage error
            assert lines[-1].startswith("femhomog"), err
        else:
            assert len(lines) == 1 and len(error_lines(err)) == 1, (args, text, err)
    else:
        assert err.strip() == "", err
    return 2


@pytest.mark.parametrize("job", _jobs(), ids=lambda j: j.name)
def test_fuzz_config_and_cli_serial(job, tmp_path, capsys):
    codes = [check_case(job, text, sets, tmp_path / f"case{i}.toml", capsys)
             for i, text, sets in cases(job, 250, SEED)]
    assert codes[0] == 0  # the template itself is valid
    assert codes[1] == 2  # the empty file is an error
    assert 0 < codes.count(0) < len(codes)  # both verdicts occur: the generator bites


@pytest.mark.mpi
def test_fuzz_config_and_cli_under_mpirun(tmp_path, capsys):
    """Every rank checks the same inputs: the same exit code, one line from rank 0."""
    from femhomog import _fenicsx  # noqa: F401, I001
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    for job in _jobs():
        codes = [check_case(job, text, sets, tmp_path / f"case{i}.toml", capsys, comm.rank)
                 for i, text, sets in cases(job, 40, SEED + 1)]
        everyone = comm.allgather(codes)
        assert all(c == everyone[0] for c in everyone), job.name
