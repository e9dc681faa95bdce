"""Reference experiments of micromagnetics: the harnesses behind demos, tests and benchmarks.

``ll_homogenization``  the homogenization experiment of the LL paper (Sect. 3-4): errors of
                       m_0 and of the corrected approximation against m^eps, self-convergence
``sp3``                muMAG standard problem 3: flower/vortex energy crossing of a cube
``sp4``                muMAG standard problem 4: parameters, published reference behaviour,
                       table helpers (the job itself is ``femhomog llg demos/sp4/field1.toml``)

The documents that explain and run them are ``demos/ll_homogenization.py``,
``demos/sp3.py`` and ``demos/sp4/``.  Importing this package imports nothing; the
modules ``ll_homogenization`` and ``sp3`` import dolfinx.
"""
