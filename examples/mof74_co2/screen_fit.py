"""A screen fitted to the model: pair potentials that reproduce the MLIP's own (D3 excluded)
interaction energy of one CO2 with the framework and of two CO2 with each other, written as a
LAMMPS `pair_style table` (screen.py, kind "fitted").

Why: delayed acceptance (docs/delayed-acceptance.md) samples the model's distribution exactly
whatever the screen, but it mixes only as fast as the screen follows the model.  The example's
classical force field (UFF framework without charges) binds CO2 by ~20 kJ/mol where CHGNet + D3
binds by 40-57 kJ/mol, and UFF's Mg is repulsive where the model binds end-on at 2.2-2.5 A, so
the screen turned down the model's favourite insertions.  Between two CO2, CHGNet alone binds
by 7-15 kJ/mol at 3.2-4.5 A where TraPPE gives -5 to +10 kJ/mol: at production loadings a
TraPPE screen turns down the insertions next to adsorbed CO2 that the model likes.  D3 is
cheap (~5 ms for the supercell with 16 CO2) and already part of the full energy, so it joins
the screen exactly; only the model's own part needs a stand-in.

How: `samples` single CO2 configurations in the empty framework (half uniformly placed and
oriented as fix gcmc inserts them, half near the open Mg sites, where the model binds), and the
trials of a short chain of the model itself (snapshots from the empty framework up to its
loading; every CO2 taken out and put back, and random insertions), each with the model's energy
through the energy-only path the chain uses.  Why the chain: CHGNet's CO2-CO2 attraction is not
pairwise -- pair terms fitted to CO2 pairs in vacuum (7-15 kJ/mol at 3.2-4.5 A) overbound a CO2
in the loaded framework by 31 kJ/mol on average (measured), and the delayed chain then filled the
framework ten times slower than the plain one.  The target of a sample is the inserted CO2's
interaction energy, dU = E(with it) - E(without it) - E(CO2 alone); it is modelled as a sum over
the pairs of atoms of different molecules of u_ab(r), one function per pair of sites (PAIRS:
CO2's C and O with the framework's Mg, O, C, H, and with each other), each a cubic B-spline on
KNOTS that vanishes with its slope at the cutoff.  The coefficients come from
weighted linear least squares with a curvature penalty (numpy), on samples with
dU + dU_D3 < FIT_ABOVE (what the chain can accept: higher ones are rejected by either energy);
a fifth of the samples is held out to report the fit's error.  The table is written densely and
read by LAMMPS with `pair_style table spline`.

Nothing here touches exactness: a poor fit only costs mixing (stage-2 rejections).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import mof74
import numpy as np
from ase import Atoms
from ase.geometry import get_distances
from ase.neighborlist import neighbor_list
from ase.units import kJ, mol
from scipy.interpolate import BSpline
from scipy.spatial.transform import Rotation

CUTOFF = 6.0  # A: CHGNet's atom-graph cutoff; beyond it the pair terms are zero
KNOTS = np.arange(1.2, CUTOFF + 1e-9, 0.3)  # A: the B-splines' breakpoints
INNER = 0.5  # A: where the table starts (a CO2 atom this close to the framework is an overlap)
POINTS = 2000  # table points between INNER and CUTOFF
FIT_ABOVE = 0.3  # eV: samples with a higher total insertion energy are not fitted
HOST = ("Mg", "O", "C", "H")
GUEST = ("C", "O")
#: the fitted pair functions, by mof74.SITES names: CO2-framework, then CO2-CO2
PAIRS = tuple((f"{g}_co2", f"{h}_mof") for g in GUEST for h in HOST) + (
    ("C_co2", "C_co2"), ("C_co2", "O_co2"), ("O_co2", "O_co2"))
CO2 = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, mof74.CO2_BOND], [0.0, 0.0, -mof74.CO2_BOND]])


def _basis() -> np.ndarray:
    """The knot vector of cubic B-splines on KNOTS (clamped at both ends)."""
    return np.r_[[KNOTS[0]] * 3, KNOTS, [KNOTS[-1]] * 3]


def _design(r: np.ndarray) -> np.ndarray:
    """Basis values (len(r), n_basis) at distances r (0 outside [KNOTS[0], CUTOFF])."""
    t = _basis()
    n = len(t) - 4 - 2  # the last two splines are nonzero or sloped at CUTOFF: dropped
    inside = (r >= KNOTS[0]) & (r < CUTOFF)
    out = np.zeros((len(r), n))
    if inside.any():
        out[inside] = BSpline.design_matrix(r[inside], t, 3).toarray()[:, :n]
    return out


def _n_basis() -> int:
    return len(_design(np.array([3.0]))[0])


def _pair_sums(d: np.ndarray, rows: list[str], cols: list[str]) -> np.ndarray:
    """The sum of every basis function over each pair type's distances d[i, j] (< CUTOFF) between
    sites named rows[i] and cols[j]: one block of the feature vector per entry of PAIRS."""
    rows_, cols_ = np.array(rows), np.array(cols)
    blocks = []
    for a, b in PAIRS:
        mask = np.outer(rows_ == a, cols_ == b)
        if a != b:
            mask |= np.outer(rows_ == b, cols_ == a)
        r = d[mask]
        blocks.append(_design(r[r < CUTOFF]).sum(axis=0))
    return np.concatenate(blocks)


CO2_SITES = ["C_co2", "O_co2", "O_co2"]


def features(framework: Atoms, co2: np.ndarray) -> np.ndarray:
    """Feature vector of one CO2 in the framework (minimum image: the supercell is wider than
    twice the cutoff)."""
    _, d = get_distances(co2, framework.positions, cell=framework.cell, pbc=True)
    return _pair_sums(d, CO2_SITES, [f"{e}_mof" for e in framework.get_chemical_symbols()])


def features_among(framework: Atoms, co2: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Feature vector of one CO2 in the framework among `others` (M, 3, 3) CO2."""
    cols = [f"{e}_mof" for e in framework.get_chemical_symbols()] + CO2_SITES * len(others)
    positions = np.vstack([framework.positions, others.reshape(-1, 3)])
    _, d = get_distances(co2, positions, cell=framework.cell, pbc=True)
    return _pair_sums(d, CO2_SITES, cols)


BOX = 30.0  # A: the vacuum box of a lone CO2 (wider than any cutoff)


def open_sites(framework: Atoms) -> list[tuple[int, np.ndarray]]:
    """Every Mg and the unit vector of its open coordination site (opposite the sum of its
    bonds to the five framework O atoms)."""
    i, j, d = neighbor_list("ijD", framework, 2.5)
    sites = []
    for mg in np.flatnonzero(framework.numbers == 12):
        bonds = d[(i == mg) & (framework.numbers[j] == 8)]
        u = -(bonds / np.linalg.norm(bonds, axis=1)[:, None]).sum(axis=0)
        sites.append((int(mg), u / np.linalg.norm(u)))
    return sites


def configurations(framework: Atoms, n: int, seed: int, overlap: float) -> np.ndarray:
    """n CO2 positions (n, 3, 3): even ones placed uniformly with a uniform orientation (as
    fix gcmc inserts), odd ones with an O 1.9-4.0 A from an open Mg site, end-on or turned at
    random; none closer than `overlap` to the framework (the chain's overlap rule)."""
    rng = np.random.default_rng(seed)
    sites = open_sites(framework)
    out = np.empty((n, 3, 3))
    k = 0
    while k < n:
        if k % 2 == 0:
            centre = framework.cell.cartesian_positions(rng.random(3))
            pos = centre + Rotation.random(random_state=rng).apply(CO2)
        else:
            mg, u = sites[rng.integers(len(sites))]
            o1 = framework.positions[mg] + rng.uniform(1.9, 4.0) * u + rng.normal(0, 0.3, 3)
            axis = u + rng.normal(0, 0.3, 3) if rng.random() < 0.5 else rng.normal(size=3)
            axis /= np.linalg.norm(axis)
            pos = np.array([o1 + mof74.CO2_BOND * axis, o1, o1 + 2 * mof74.CO2_BOND * axis])
        _, d = get_distances(pos, framework.positions, cell=framework.cell, pbc=True)
        if d.min() >= overlap:
            out[k] = pos
            k += 1
    return out


#: ridge strengths (eV^2 per coefficient^2) fitted_table chooses from by held-out error
RIDGES = (0.0, 1e-4, 1e-3, 1e-2, 1e-1)


def fit(x: np.ndarray, y: np.ndarray, smooth: float = 1e-3, ridge: float = 0.0) -> np.ndarray:
    """Least squares coefficients of y ~ x c with a penalty on each pair function's second
    differences (keeps splines with few samples, short distances, smooth) and, with `ridge`,
    on the coefficients themselves.  Why the ridge: a rigid CO2's C and O always move
    together, so the C-X and O-X functions are nearly interchangeable; unpenalised, the fit
    makes them large and cancelling (measured: C-C +62, C-O -35, O-O +19 kJ/mol per pair at
    3 A), exact on the samples and wrong by tens of kJ/mol just beside them."""
    n = _n_basis()
    block = np.diff(np.eye(n), 2, axis=0)
    penalty = np.kron(np.eye(x.shape[1] // n), block)
    a = np.vstack([x, np.sqrt(smooth) * penalty, np.sqrt(ridge) * np.eye(x.shape[1])])
    b = np.r_[y, np.zeros(len(penalty) + x.shape[1])]
    return np.linalg.lstsq(a, b, rcond=None)[0]


def pair_function(c: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u, -du/dr) of one pair type at r: the spline inside, a linear wall below KNOTS[0]
    (slope of 10 eV/A: only an overlap gets there), zero beyond the cutoff."""
    t = _basis()
    full = np.r_[c, 0.0, 0.0]
    spline = BSpline(t, full, 3, extrapolate=False)
    inner = r < KNOTS[0]
    u = np.where(inner, 0.0, np.nan_to_num(spline(r)))
    f = np.where(inner, 0.0, -np.nan_to_num(spline.derivative()(r)))
    u0 = float(spline(KNOTS[0]))
    u[inner] = u0 + 10.0 * (KNOTS[0] - r[inner])
    f[inner] = 10.0
    u[r >= CUTOFF], f[r >= CUTOFF] = 0.0, 0.0
    return u, f


def write_table(coefficients: np.ndarray, path: Path) -> list[str]:
    """A LAMMPS table file with one section per entry of PAIRS; its keywords in order."""
    n = _n_basis()
    r = np.linspace(INNER, CUTOFF, POINTS)
    keywords, lines = [], ["# CO2 pair terms fitted to the model (screen_fit.py)\n"]
    for k, (a, b) in enumerate(PAIRS):
        u, f = pair_function(coefficients[k * n:(k + 1) * n], r)
        keyword = f"{a}-{b}"
        keywords.append(keyword)
        lines.append(f"\n{keyword}\nN {POINTS} R {INNER!r} {CUTOFF!r}\n\n")
        lines.extend(f"{i + 1} {x!r} {y!r} {z!r}\n"
                     for i, (x, y, z) in enumerate(zip(r.tolist(), u.tolist(), f.tolist(),
                                                        strict=True)))
    path.write_text("".join(lines))
    return keywords


def pair_coefficients(table: Path, keywords: list[str]) -> str:
    """pair_coeff lines of the `table` sub-style, one per fitted pair of types."""
    types = {s.name: k + 1 for k, s in enumerate(mof74.SITES)}
    lines = []
    for keyword in keywords:
        a, b = keyword.split("-")
        i, j = sorted((types[a], types[b]))
        lines.append(f"pair_coeff {i} {j} table {table} {keyword} {CUTOFF!r}\n")
    return "".join(lines)


def _lone(energy) -> float:
    return energy(Atoms("COO", positions=CO2 + BOX / 2, cell=np.eye(3) * BOX, pbc=True))


def chain_snapshots(lmp, n_framework: int, cycles: int, every: int) -> list[np.ndarray]:
    """Run `cycles` GCMC cycles of the fix already set up in `lmp` (one process; from the empty
    framework: every loading on the way up); the CO2 positions (M, 3, 3: C, O, O by atom ID)
    after every `every`-th cycle that holds any."""
    import simulation as sim

    snapshots = []
    for k in range(cycles):
        sim.cycles(lmp, 1, n_framework)
        n = lmp.extract_global("nlocal")  # one process: every atom
        if (k + 1) % every == 0 and n > n_framework:
            ids = np.ctypeslib.as_array(lmp.extract_atom("id"), shape=(n,))
            types = np.ctypeslib.as_array(lmp.extract_atom("type"), shape=(n,))
            x = np.ctypeslib.as_array(lmp.extract_atom("x")[0], shape=(n, 3))
            order = np.argsort(ids)  # a molecule's atoms have consecutive IDs: C, O, O
            gas = order[types[order] <= 2]
            if not (types[gas].reshape(-1, 3) == [1, 2, 2]).all():
                raise RuntimeError("CO2 atoms are not in C, O, O order by ID")
            snapshots.append(x[gas].reshape(-1, 3, 3).copy())
    return snapshots


def loaded_samples(framework: Atoms, snapshots: list[np.ndarray], energy, insertions: int,
                   seed: int, overlap: float) -> tuple[np.ndarray, np.ndarray]:
    """(features, model dU) of the trials a chain at loading makes: every CO2 of each snapshot
    taken out and put back (a deletion's energy, reversed), and `insertions` random CO2 put in
    (none closer than `overlap` to any atom)."""
    rng = np.random.default_rng(seed + 2)
    lone = _lone(energy)
    x, y = [], []
    for snap in snapshots:
        loaded = framework + Atoms("COO" * len(snap), positions=snap.reshape(-1, 3))
        e_all = energy(loaded)
        for i in range(len(snap)):
            others = np.delete(snap, i, axis=0)
            without = framework + Atoms("COO" * len(others), positions=others.reshape(-1, 3))
            y.append(e_all - energy(without) - lone)
            x.append(features_among(framework, snap[i], others))
        k = 0
        while k < insertions:
            pos = (framework.cell.cartesian_positions(rng.random(3))
                   + Rotation.random(random_state=rng).apply(CO2))
            _, d = get_distances(pos, loaded.positions, cell=framework.cell, pbc=True)
            if d.min() < overlap:
                continue
            y.append(energy(loaded + Atoms("COO", positions=pos)) - e_all - lone)
            x.append(features_among(framework, pos, snap))
            k += 1
    return np.array(x), np.array(y)


def model_insertion_energies(framework: Atoms, co2: np.ndarray, energy) -> np.ndarray:
    """dU (eV) of each CO2 of `co2` alone in the framework, the model's own energy (no D3)."""
    empty = energy(framework.copy())
    lone = _lone(energy)
    out = np.empty(len(co2))
    for k, pos in enumerate(co2):
        atoms = framework + Atoms("COO", positions=pos)
        out[k] = energy(atoms) - empty - lone
    return out


def d3_insertion_energies(framework: Atoms, co2: np.ndarray, dispersion: str) -> np.ndarray:
    """dU (eV) of each CO2 in D3 alone (LAMMPS' dispersion/d3, the model's settings)."""
    import simulation as sim

    lmp = sim.d3_only(framework, dispersion)
    empty = sim.potential_energy(lmp)
    n = len(framework)
    middle = framework.cell.cartesian_positions([0.5, 0.5, 0.5])
    for k, x in enumerate((CO2 + middle).tolist()):
        lmp.command(f"create_atoms {1 if k == 0 else 2} single {x[0]!r} {x[1]!r} {x[2]!r} "
                    "units box")
    out = np.empty(len(co2))
    for k, pos in enumerate(co2):
        for a, (px, py, pz) in enumerate(pos.tolist()):
            lmp.command(f"set atom {n + a + 1} x {px!r} y {py!r} z {pz!r}")
        out[k] = sim.potential_energy(lmp) - empty
    lmp.close()
    return out - sim.lone_co2_d3(dispersion)


def fitted_table(framework: Atoms, calculator, dispersion: str | None, out: Path, samples: int,
                 seed: int, overlap: float,
                 loaded: Callable[[], list[np.ndarray]] | None = None,
                 insertions: int = 15, key_extra: dict | None = None) -> dict:
    """Sample, fit and write the table (out/screen_table.txt); reuse a fit of the same inputs
    found in `out` (screen_fit.json), so a resumed or repeated study does not pay it again.
    `loaded()`: CO2 snapshots of a chain of the model (chain_snapshots), whose deletions and
    `insertions` random insertions per snapshot join the samples (loaded_samples)."""
    from lammps_mliap_ase.models.registry import energy_function

    out.mkdir(parents=True, exist_ok=True)
    table, record = out / "screen_table.txt", out / "screen_fit.json"
    key = {"pairs": [list(p) for p in PAIRS], "samples": samples, "seed": seed,
           "overlap": overlap, "dispersion": dispersion, "knots": KNOTS.tolist(),
           "fit_above_eV": FIT_ABOVE, "atoms": len(framework), "loaded": loaded is not None,
           "insertions": insertions, "ridges": list(RIDGES)} | (key_extra or {})
    if record.exists() and table.exists():
        found = json.loads(record.read_text())
        if found.get("key") == key:
            return found | {"table": str(table)}  # the folder may have moved
    t0 = time.perf_counter()
    calls = [0]
    model_energy = energy_function(calculator)

    def energy(atoms: Atoms) -> float:
        calls[0] += 1
        return model_energy(atoms)

    co2 = configurations(framework, samples, seed, overlap)
    model = model_insertion_energies(framework, co2, energy)
    d3 = (d3_insertion_energies(framework, co2, dispersion) if dispersion
          else np.zeros(samples))  # no D3 overlaid: the model is the whole energy
    x = np.array([features(framework, pos) for pos in co2])
    n_snapshots = 0
    if loaded is not None:
        snapshots = loaded()
        n_snapshots = len(snapshots)
        if not n_snapshots:
            raise ValueError("the model's chain for the fit never held a CO2 in its snapshots: "
                             "give it more cycles (--screen-fit-cycles) or a higher pressure "
                             "(--screen-fit-pressure)")
        x_loaded, y_loaded = loaded_samples(framework, snapshots, energy, insertions, seed,
                                            overlap)
        x, model = np.vstack([x, x_loaded]), np.r_[model, y_loaded]
        d3 = np.r_[d3, np.zeros(len(y_loaded))]  # selects by the model's part alone
    np.savez_compressed(out / "samples.npz", x=x, model=model, d3=d3, samples=samples)
    used = model + d3 < FIT_ABOVE
    test = np.arange(len(x)) % 5 == 4
    single = np.arange(len(x)) < samples
    check = used & test & (~single if loaded is not None else single)  # what chains meet
    errors = {}
    for ridge in RIDGES:
        c = fit(x[used & ~test], model[used & ~test], ridge=ridge)
        errors[ridge] = float(np.sqrt(np.mean((x[check] @ c - model[check]) ** 2)))
    ridge = min(errors, key=errors.get)
    c = fit(x[used & ~test], model[used & ~test], ridge=ridge)
    residual = x @ c - model
    c = fit(x[used], model[used], ridge=ridge)  # the table: every fitted sample
    keywords = write_table(c, table)
    kj = kJ / mol

    def rms(mask):
        return float(np.sqrt(np.mean(residual[mask] ** 2)) / kj) if mask.any() else None

    result = {
        "key": key, "table": str(table), "keywords": keywords, "coefficients": c.tolist(),
        "fitted": int(used.sum()), "held_out": int((used & test).sum()),
        "snapshots": n_snapshots, "model_evaluations": calls[0], "ridge": ridge,
        "held_out_rms_by_ridge_kJ_mol": {str(k): v / kj for k, v in errors.items()},
        "rms_train_kJ_mol": rms(used & ~test), "rms_held_out_kJ_mol": rms(used & test),
        "rms_held_out_single_kJ_mol": rms(used & test & single),
        "rms_held_out_loaded_kJ_mol": rms(used & test & ~single),
        "lowest_single_kJ_mol": float((model + d3)[single].min() / kj),
        "above_fit_screen_below_kJ_mol": int(((x @ c + d3)[~used] < FIT_ABOVE / 2).sum()),
        "wall_s": time.perf_counter() - t0,
        "samples_kJ_mol": {"model": (model / kj).tolist(), "d3": (d3 / kj).tolist(),
                           "screen_model_part": (x @ c / kj).tolist(),
                           "single": single.tolist()},
    }
    record.write_text(json.dumps(result, indent=1))
    return result
