"""The ``femhomog`` command line (entry point :func:`femhomog.cli.main.main`).

Nothing is imported here on purpose: ``python -m femhomog.cli.main`` would warn
if the package had already imported the module.
"""
