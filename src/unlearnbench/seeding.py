"""Initialisation seeds of the trained references, independent by construction.

A reference model is trained from ``init_seed(role, seed)``: the seed of its role's own stream of
``numpy.random.SeedSequence([seed, ROLE_CODE[role]])``. The original (``seed`` of the config), the
seed-noise-floor originals ``original_prime`` and the retrained references (``seeds`` of the config)
therefore never share an initialisation or a data order, even when the numbers in the config coincide
(``seed: 0``, ``seeds: [0, 1, 2]``): the retrained model is independent of the original's initialisation,
and CKA(original, original′) measures what a second training of the *same* data changes — the floor every
representation metric is read against.
"""
from __future__ import annotations

import numpy as np

#: stream of each trained role (never reuse a code: results cite these seeds)
ROLE_CODE = {"original": 0, "original_prime": 1, "retrain": 2}


def init_seed(role: str, seed: int) -> int:
    """The seed (0 ≤ s < 2³¹) that initialises and orders the training of ``role`` for replicate ``seed``."""
    if role not in ROLE_CODE:
        raise ValueError(f"unknown training role {role!r}; expected one of {sorted(ROLE_CODE)}")
    return int(np.random.SeedSequence([int(seed), ROLE_CODE[role]]).generate_state(1, np.uint32)[0] >> 1)
