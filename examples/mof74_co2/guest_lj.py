"""The dispersion part of the classical model as an ASE calculator (for the bridge).

It computes exactly what LAMMPS' `lj/cut` (+ `pair_modify shift yes`) computes in the native
input, and excludes the same pairs:
- framework-framework pairs (LAMMPS: `neigh_modify exclude group framework framework`): the
  framework has no charges in this model, so an atom with `initial_charges == 0` (the bridge
  passes LAMMPS' per-atom q) is framework and one with a charge is CO2;
- the pairs inside one CO2 (LAMMPS: bonds + `special_bonds lj 0 0 0`): two CO2 atoms exactly
  one C=O bond (1.16 A) or two (O..O, 2.32 A) apart, to 1e-6 A.  Rigid moves keep those
  distances to round-off; for two different molecules to sit at exactly those distances is a
  measure-zero event.  (So this calculator is for rigid-molecule Monte Carlo, not for MD of
  flexible CO2.)
So only guest-host and guest-guest pairs are evaluated: each guest atom against all atoms,
vectorised with numpy over the minimum image, which is exact because the cell is at least
twice the cutoff wide (checked).  No Python loop over pairs or atoms.
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, CalculatorSetupError, all_changes
from mof74 import CO2_BOND, SITES, mixed, widths

_INTRA_TOL = 1e-6  # Angstrom


class GuestLJ(Calculator):
    """Lennard-Jones of CO2 with the framework and with other CO2, truncated and shifted."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, cutoff: float, **kwargs):
        super().__init__(**kwargs)
        self.cutoff = float(cutoff)
        n = len(SITES)
        self.eps = np.zeros((n, n))
        self.sigma = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                self.eps[i, j], self.sigma[i, j] = mixed(i + 1, j + 1)
        ratio6 = (self.sigma / self.cutoff) ** 6
        self.offset = 4.0 * self.eps * (ratio6 * ratio6 - ratio6)  # as lj/cut's offset
        # element -> site index, separately for CO2 (charged) and framework (uncharged) atoms
        self._guest_site = np.full(119, -1)
        self._host_site = np.full(119, -1)
        from ase.data import atomic_numbers

        for k, site in enumerate(SITES):
            table = self._guest_site if site.guest else self._host_site
            table[atomic_numbers[site.element]] = k

    def sites(self, atoms) -> tuple[np.ndarray, np.ndarray]:
        """Site index of every atom and whether it is CO2."""
        if "initial_charges" not in atoms.arrays:
            raise CalculatorSetupError(
                "GuestLJ tells CO2 from framework by charge: use an atom style with charges "
                "(atom_style full)")
        guest = atoms.arrays["initial_charges"] != 0.0
        site = np.where(guest, self._guest_site[atoms.numbers], self._host_site[atoms.numbers])
        if (site < 0).any():
            bad = sorted(set(atoms.get_chemical_symbols()[k] for k in np.flatnonzero(site < 0)))
            raise CalculatorSetupError(f"GuestLJ has no parameters for {bad} (charged: CO2 C/O;"
                                       " uncharged: framework Mg/O/C/H)")
        return site, guest

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        n = len(atoms)
        cell = atoms.cell.array
        if (widths(cell) < 2 * self.cutoff).any():
            raise CalculatorSetupError(
                f"cell widths {np.round(widths(cell), 2).tolist()} A are below 2 x cutoff "
                f"({2 * self.cutoff} A): the minimum image is not exact; use a larger supercell")
        site, guest = self.sites(atoms)
        energy, forces, virial = 0.0, np.zeros((n, 3)), np.zeros((3, 3))
        gi = np.flatnonzero(guest)
        if len(gi):
            energy, virial = self._pairs(atoms.positions, cell, site, guest, gi, forces)
        self.results = {"energy": energy, "free_energy": energy, "forces": forces,
                        "stress": (virial / atoms.get_volume()).flat[[0, 4, 8, 5, 2, 1]]}

    def _pairs(self, pos, cell, site, guest, gi, forces) -> tuple[float, np.ndarray]:
        """Energy and virial of all pairs with a CO2 atom; adds forces in place."""
        n = len(pos)
        delta = pos[None, :, :] - pos[gi, None, :]  # (guest, all, 3): r_j - r_i
        frac = delta @ np.linalg.inv(cell)
        frac -= np.round(frac)
        delta = frac @ cell
        r2 = np.einsum("gjk,gjk->gj", delta, delta)
        i = np.repeat(gi, n).reshape(len(gi), n)
        j = np.broadcast_to(np.arange(n), (len(gi), n))
        keep = (r2 < self.cutoff**2) & (j != i)
        i, j, r2, delta = i[keep], j[keep], r2[keep], delta[keep]
        r = np.sqrt(r2)
        both = guest[j]
        intra = both & ((np.abs(r - CO2_BOND) < _INTRA_TOL)
                        | (np.abs(r - 2 * CO2_BOND) < _INTRA_TOL))
        i, j, r2, delta, both = i[~intra], j[~intra], r2[~intra], delta[~intra], both[~intra]
        si, sj = site[i], site[j]
        eps, sigma2 = self.eps[si, sj], self.sigma[si, sj] ** 2
        weight = np.where(both, 0.5, 1.0)  # guest-guest pairs appear twice
        sr6 = (sigma2 / r2) ** 3
        energy = float(np.sum(weight * (4.0 * eps * (sr6 * sr6 - sr6) - self.offset[si, sj])))
        # dE/dr / r for each pair, times the displacement: the gradient with respect to r_j
        grad = (weight * 4.0 * eps * (6.0 * sr6 - 12.0 * sr6 * sr6) / r2)[:, None] * delta
        for k in range(3):
            forces[:, k] += np.bincount(i, grad[:, k], n) - np.bincount(j, grad[:, k], n)
        return energy, grad.T @ delta
