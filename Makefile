# femhomog — quick start: `make demo` and `make test` (both create .venv first).
#
# The FEniCSx wheel needs Python >= 3.12.  We look for one that actually runs:
# python3.13/python3.12/python3 on PATH, then pyenv's installed versions.
# Override with `make PYTHON=/path/to/python3.12 ...`.

SHELL := /bin/bash
VENV  := .venv
VPY   := $(VENV)/bin/python
STAMP := $(VENV)/.femhomog-installed
NP    ?= 2

PYTHON ?= $(shell bash scripts/find-python.sh 2>/dev/null)

.PHONY: venv demo test test-serial test-mpi bench clean help

help:
	@echo "make demo    - homogenized tensor a^0 of a 3D inclusion cell (mpirun -n $(NP))"
	@echo "make test    - serial tests, then MPI tests under mpirun -n 2"
	@echo "make bench   - benchmarks (long)"
	@echo "make venv    - only create .venv and install femhomog[fenicsx,dev,plot]"

venv: $(STAMP)

$(STAMP): pyproject.toml scripts/find-python.sh
	@if [ -z "$(PYTHON)" ]; then \
	  echo "femhomog needs Python >= 3.12 (the dolfinx wheel requires it) and found none:"; \
	  echo "  tried python3.13, python3.12, python3 on PATH and pyenv versions 3.12+."; \
	  echo "  Install one (e.g. 'pyenv install 3.12') or run 'make PYTHON=/path/to/python3.12 ...'."; \
	  exit 1; fi
	@echo "== creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e '.[fenicsx,dev,plot]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/mpirun -n $(NP) $(VENV)/bin/femhomog cell demos/inclusion3d.toml --out results/demo

test: $(STAMP) test-serial test-mpi

test-serial: $(STAMP)
	$(VPY) -m pytest -m "not mpi" tests

# -m mpi4py aborts every rank on an uncaught exception instead of hanging.
test-mpi: $(STAMP)
	$(VENV)/bin/mpirun -n 2 $(VPY) -m mpi4py -m pytest -m mpi -q -p no:cacheprovider tests

bench: $(STAMP)
	$(VPY) benchmarks/cell_first_order.py

clean:
	rm -rf $(VENV) results .pytest_cache
