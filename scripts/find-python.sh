#!/usr/bin/env bash
# Print the path of a Python >= 3.12 that actually runs, or nothing (exit 1).
# pyenv shims such as `python3.12` exist but fail when that version is not
# selected, so every candidate is executed, not just looked up.
ok() { "$1" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
# 3.12 first: the FEniCSx wheel route is verified there.
for c in python3.12 python3.13 python3; do
  p=$(command -v "$c" 2>/dev/null) || continue
  if ok "$p"; then "$p" -c 'import sys; print(sys.executable)'; exit 0; fi
done
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
for p in $(ls -d "$root"/versions/3.12*/bin/python "$root"/versions/3.1[3-9]*/bin/python 2>/dev/null); do
  if ok "$p"; then echo "$p"; exit 0; fi
done
exit 1
