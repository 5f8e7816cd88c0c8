"""A small ASE calculator for the offline isotherm: site Lennard-Jones between molecules.

Why in the example and not the package: it is a stand-in for a foundation model on machines that
cannot download one.  Pairs closer than `bonded` (2.5 A; C=O is 1.16 A, O..O 2.32 A) belong to
the same CO2 molecule (or are framework bonds) and are skipped, so the rigid molecules' internal
energy does not swamp the insertion energies; everything else interacts with Lorentz-Berthelot
mixed LJ sites (TraPPE CO2, UFF-like Mg/O framework), no electrostatics.
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.neighborlist import neighbor_list
from ase.units import kB

# element: (sigma / A, epsilon / K)
SITES = {"C": (2.80, 27.0), "O": (3.05, 79.0), "Mg": (2.69, 55.9)}


class HostGuestLJ(Calculator):
    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, cutoff: float = 10.0, bonded: float = 2.5, **kwargs):
        super().__init__(**kwargs)
        self.cutoff, self.bonded = cutoff, bonded

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        n = len(atoms)
        i, j, d, vec = neighbor_list("ijdD", atoms, self.cutoff)
        keep = d > self.bonded
        i, j, d, vec = i[keep], j[keep], d[keep], vec[keep]
        params = np.array([SITES[s] for s in atoms.get_chemical_symbols()]).reshape(n, 2)
        sigma = 0.5 * (params[i, 0] + params[j, 0])
        eps = np.sqrt(params[i, 1] * params[j, 1]) * kB
        sr6 = (sigma / d) ** 6
        src6 = (sigma / self.cutoff) ** 6
        pair = 0.5 * 4 * eps * ((sr6 * sr6 - sr6) - (src6 * src6 - src6))  # shifted, half: i<->j
        dpair = 0.5 * 4 * eps * (-12 * sr6 * sr6 + 6 * sr6) / d
        g = (dpair / d)[:, None] * vec  # dE/dr_j for each (i, j) entry
        forces = np.zeros((n, 3))
        for k in range(3):
            forces[:, k] = np.bincount(i, g[:, k], n) - np.bincount(j, g[:, k], n)
        energies = np.bincount(i, pair, n)
        self.results = {"energy": energies.sum(), "free_energy": energies.sum(),
                        "energies": energies, "forces": forces}
        if atoms.cell.rank == 3:
            sigma_v = (g.T @ vec) / atoms.get_volume()
            self.results["stress"] = sigma_v.flat[[0, 4, 8, 5, 2, 1]]
