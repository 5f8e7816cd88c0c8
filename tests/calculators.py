"""Small float64 test calculators with exactly known physics.

`ChargeSpinPair` has an energy that depends on positions, per-atom charges and magnetic moments,
so a bridge that mixes up atoms, charges, moments or units cannot agree with it by accident.
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.neighborlist import neighbor_list


class ChargeSpinPair(Calculator):
    """E = 1/2 sum_{i != j} w_ij phi(r_ij),  w_ij = 1 + alpha q_i q_j + beta m_i . m_j,

    phi a shifted Lennard-Jones pair term cut at `cutoff`.  Provides energy, per-atom energies,
    forces and stress (analytic), for any pbc (ASE's neighbor_list handles images and small
    cells).  Moments may be collinear (N,) or vectors (N, 3).
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, epsilon=0.2, sigma=2.3, cutoff=5.0, alpha=0.3, beta=0.05, **kwargs):
        super().__init__(**kwargs)
        self.epsilon, self.sigma, self.cutoff = epsilon, sigma, cutoff
        self.alpha, self.beta = alpha, beta

    def _phi(self, r):
        s6 = (self.sigma / r) ** 6
        sc6 = (self.sigma / self.cutoff) ** 6
        phi = 4 * self.epsilon * (s6 * s6 - s6) - 4 * self.epsilon * (sc6 * sc6 - sc6)
        dphi = 4 * self.epsilon * (-12 * s6 * s6 + 6 * s6) / r
        return phi, dphi

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        n = len(atoms)
        i, j, d, dvec = neighbor_list("ijdD", atoms, self.cutoff)
        q = atoms.get_initial_charges()
        m = atoms.get_initial_magnetic_moments()
        mm = (m[i] * m[j]).sum(axis=1) if m.ndim == 2 else m[i] * m[j]
        w = 1.0 + self.alpha * q[i] * q[j] + self.beta * mm
        phi, dphi = self._phi(d)
        e_pair = 0.5 * w * phi
        energies = np.bincount(i, weights=e_pair, minlength=n)
        # dE/dD for D = r_j - r_i: 1/2 w phi'(d) D/d; F_i = +that, F_j = -that
        g = (0.5 * w * dphi / d)[:, None] * dvec
        forces = np.zeros((n, 3))
        for k in range(3):
            forces[:, k] += np.bincount(i, weights=g[:, k], minlength=n)
            forces[:, k] -= np.bincount(j, weights=g[:, k], minlength=n)
        self.results["energy"] = self.results["free_energy"] = float(energies.sum())
        self.results["energies"] = energies
        self.results["forces"] = forces
        if atoms.cell.rank == 3:
            sigma = (g.T @ dvec) / atoms.get_volume()
            self.results["stress"] = sigma.flat[[0, 4, 8, 5, 2, 1]]


def emt_on_device(device: str = "cpu"):
    """ASE's EMT behind a `device` option, which it ignores: the per-GPU model servers of a
    node (serve/layout.py) are tested on a machine without GPUs, each server started with its
    own ``--device cuda:K`` (which its first line names)."""
    from ase.calculators.emt import EMT

    del device
    return EMT()
