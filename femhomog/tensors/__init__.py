"""Pure-numpy symmetric tensor algebra of the effective wave equations (wave paper).

No dolfinx/petsc4py/mpi4py import here (numpy and scipy only), so the tensors can be
post-processed and tested anywhere.

``symmetric``      S^n (6), "=_S" (7), tensor products (5), contractions t : theta^n,
                   multi-indices I(d, k) and N(d, k) (Remark 1, (44)), cell-problem counts
``matricization``  nu and M(q) (43)-(45), positive (semi)definiteness (9)/(36)
``effective``      c^r, p^k (21), qcheck^r (35), delta* (37), Lemma 4 pair (38),
                   dispersion relations of (14) and of the unregularized model
``theorem3``       S(g^{2r}) from cell averages of chi^1..chi^{r+1} (41)-(42)

A tensor of order n on R^d is an array of shape ``(d,) * n``; indices are 0-based.
"""

from femhomog.tensors.effective import (
    EffectiveTensors,
    c_tensors,
    constraint_residuals,
    delta_star,
    dispersion_effective,
    dispersion_unregularized,
    effective_symbols,
    effective_wave_tensors,
    lemma4_pair,
    p_tensors,
    qcheck_tensor,
    smallest_admissible_delta,
)
from femhomog.tensors.matricization import (
    bilinear,
    index_set,
    is_major_symmetric,
    is_positive_definite,
    is_positive_semidefinite,
    matricize,
    min_eigenvalue,
    nu,
    nu_inverse,
)
from femhomog.tensors.symmetric import (
    apply,
    as_tensor,
    cell_problem_count,
    components,
    contract,
    equal_sym,
    from_components,
    inner,
    is_symmetric,
    multi_index_count,
    multi_indices,
    multiplicity,
    orbit_sums,
    symmetrize,
    tensor_power,
    tensor_product,
)
from femhomog.tensors.theorem3 import (
    assemble_g_sym,
    expand_pair_matrix,
    required_mass_pairs,
    theorem3_h,
    theorem3_k,
)

# the paper's symbol for the matricization (45)
M = matricize

__all__ = [
    "EffectiveTensors",
    "M",
    "apply",
    "as_tensor",
    "assemble_g_sym",
    "bilinear",
    "c_tensors",
    "cell_problem_count",
    "components",
    "constraint_residuals",
    "contract",
    "delta_star",
    "dispersion_effective",
    "dispersion_unregularized",
    "effective_symbols",
    "effective_wave_tensors",
    "equal_sym",
    "expand_pair_matrix",
    "from_components",
    "index_set",
    "inner",
    "is_major_symmetric",
    "is_positive_definite",
    "is_positive_semidefinite",
    "is_symmetric",
    "lemma4_pair",
    "matricize",
    "min_eigenvalue",
    "multi_index_count",
    "multi_indices",
    "multiplicity",
    "nu",
    "nu_inverse",
    "orbit_sums",
    "p_tensors",
    "qcheck_tensor",
    "required_mass_pairs",
    "smallest_admissible_delta",
    "symmetrize",
    "tensor_power",
    "tensor_product",
    "theorem3_h",
    "theorem3_k",
]
