"""Periodic cell problems: correctors chi^k and homogenized tensors (wave paper Sect. 2; LL paper Sect. 4)."""
