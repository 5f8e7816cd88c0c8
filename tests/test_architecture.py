"""The package layout is its architecture (docs/architecture.md): four folders, one concern
each, importing one way, no cycles; and the old module paths still load old pair files.

Why parse instead of import: an import that runs against the direction is a design mistake
whether or not it happens to work today (a function-level import runs later, a cycle may load
in one order and not the other), so every ``import`` statement of every module counts, at
module level or inside a function.
"""

from __future__ import annotations

import ast
import importlib
import pickle
import pickletools
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from lammps_mliap_ase import UniversalASEUnifiedMLIAPInterface
from lammps_mliap_ase.models import registry

from conftest import box_commands, new_lammps

PACKAGE = "lammps_mliap_ase"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

#: Lowest first: a module may import its own layer (its own folder) and the layers below it.
#: "top" is the package's public face (__init__) and the thin modules at the old paths.
LAYERS = ("base", "serve", "models", "adapter", "cli", "top")
FOLDERS = ("serve", "models", "adapter", "cli")
BASE = ("errors", "properties")
#: what a model family module may import from models/ (never the registry or another family)
FAMILY_MAY_IMPORT = {f"{PACKAGE}.models.base", f"{PACKAGE}.models.options"}
NOT_FAMILIES = {"__init__", "registry", "base", "options"}


def layer(module: str) -> str:
    """The layer of a dotted module name inside the package."""
    parts = module.split(".")
    if len(parts) == 1:
        return "top"
    if parts[1] in FOLDERS:
        return parts[1]
    return "base" if parts[1] in BASE else "top"


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(module: str, source: str, is_package: bool, known: set[str]) -> set[str]:
    """The package modules that `module` imports (``from X import name`` counts as X.name when
    that is a module, else X)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return found


def graph(sources: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """module -> the package modules it imports, for `sources` (module -> (text, is package))."""
    known = set(sources)
    return {module: imports(module, text, is_package, known) - {module}
            for module, (text, is_package) in sources.items()}


def package_sources(root: Path = ROOT) -> dict[str, tuple[str, bool]]:
    return {module_name(path, root): (path.read_text(), path.name == "__init__.py")
            for path in sorted(root.rglob("*.py"))}


def violations(deps: dict[str, set[str]]) -> list[str]:
    """Imports against the direction, family modules reaching past base/options, and cycles."""
    found = []
    for module, targets in sorted(deps.items()):
        for target in sorted(targets):
            if LAYERS.index(layer(target)) > LAYERS.index(layer(module)):
                found.append(f"{module} ({layer(module)}) imports {target} ({layer(target)})")
            parts = module.split(".")
            if (parts[1:2] == ["models"] and len(parts) == 3 and parts[2] not in NOT_FAMILIES
                    and target.startswith(f"{PACKAGE}.models.")
                    and target not in FAMILY_MAY_IMPORT):
                found.append(f"model family {module} imports {target} (only models.base and "
                             "models.options: families stay independent)")
    found += [" -> ".join(cycle) for cycle in cycles(deps)]
    return found


def cycles(deps: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules (Tarjan), each closed on its start."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(deps.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group) + [sorted(group)[0]])

    for node in sorted(deps):
        if node not in index:
            visit(node)
    return groups


def test_imports_run_one_way_without_cycles():
    deps = graph(package_sources())
    assert {layer(m) for m in deps} == set(LAYERS), "a layer has no module: update LAYERS"
    assert violations(deps) == []


def test_the_check_catches_a_wrong_way_import_and_a_cycle():
    """The checker itself: a serve module importing a model family is refused, so is a cycle
    (the same sources as the package, plus one bad import each)."""
    sources = package_sources()
    text, is_package = sources[f"{PACKAGE}.serve.batch"]
    wrong_way = {**sources, f"{PACKAGE}.serve.batch": (
        text + "\nfrom ..models.orb import OrbBackend\n", is_package)}
    assert any("serve.batch (serve) imports lammps_mliap_ase.models.orb (models)" in v
               for v in violations(graph(wrong_way)))
    text, is_package = sources[f"{PACKAGE}.serve.protocol"]
    cyclic = {**sources, f"{PACKAGE}.serve.protocol": (
        text + "\ndef later():\n    from .client import connect\n", is_package)}
    assert any(v.startswith(f"{PACKAGE}.serve.client -> {PACKAGE}.serve.protocol")
               for v in violations(graph(cyclic)))
    text, is_package = sources[f"{PACKAGE}.models.uma"]
    coupled = {**sources, f"{PACKAGE}.models.uma": (text + "\nfrom .orb import split\n",
                                                    is_package)}
    assert any("model family" in v for v in violations(graph(coupled)))


def test_every_model_family_is_one_registered_module():
    """A family is one module of models/ with ENTRIES, listed once in registry.FAMILIES; its
    names are in the registry and its backend (if any) is found by make_backend."""
    modules = {p.stem for p in (ROOT / "models").glob("*.py")} - NOT_FAMILIES
    assert {family.__name__.rsplit(".", 1)[1] for family in registry.FAMILIES} == modules
    for family in registry.FAMILIES:
        assert family.ENTRIES and set(family.ENTRIES) <= set(registry.REGISTRY)


# -- pair files pickled before the move ----------------------------------------------------------

#: where the classes in a pair file lived before issue 18 (old module -> new module)
OLD_PATHS = {f"{PACKAGE}.adapter.interface": f"{PACKAGE}.interface",
             f"{PACKAGE}.adapter.system": f"{PACKAGE}.system",
             f"{PACKAGE}.adapter.units": f"{PACKAGE}.units"}


def old_pair_file(interface) -> bytes:
    """`interface` pickled as the package before the move pickled it: protocol 0 names each
    class as ``c<module>\\n<name>\\n``, and the modules are rewritten to the old paths."""
    data = pickle.dumps(interface, protocol=0)
    for new, old in OLD_PATHS.items():
        data = data.replace(f"c{new}\n".encode(), f"c{old}\n".encode())
    return data


def globals_in(data: bytes) -> set[str]:
    return {arg for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"}


def test_a_pair_file_with_the_old_class_path_loads(tmp_path):
    interface = UniversalASEUnifiedMLIAPInterface.from_registry("emt", lammps_units="metal")
    data = old_pair_file(interface)
    names = globals_in(data)
    assert f"{PACKAGE}.interface UniversalASEUnifiedMLIAPInterface" in names
    assert f"{PACKAGE}.system AtomsCache" in names and f"{PACKAGE}.units LammpsUnits" in names
    assert not any(".adapter." in name for name in names)

    loaded = pickle.loads(data)
    assert type(loaded) is UniversalASEUnifiedMLIAPInterface
    assert isinstance(loaded.calculator, EMT) and loaded.units.style == "metal"

    # and LAMMPS loads it as a pair file: the same energy as EMT called directly
    atoms = bulk("Cu", cubic=True).repeat(2)
    atoms.rattle(0.05, seed=1)
    path = tmp_path / "old.pkl"
    path.write_bytes(data)
    lmp = new_lammps()
    lmp.commands_string(box_commands(atoms, "metal", "p p p"))
    n = len(atoms)
    lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, atoms.positions.ravel().tolist())
    lmp.commands_string(f"pair_style mliap unified {path} 0\npair_coeff * * Cu\nrun 0")
    expected = EMT().get_potential_energy(atoms)
    assert lmp.get_thermo("pe") == pytest.approx(expected, rel=1e-9, abs=1e-9)
    forces = np.array(lmp.gather_atoms("f", 1, 3)).reshape(n, 3)
    atoms.calc = EMT()
    np.testing.assert_allclose(forces, atoms.get_forces(), rtol=1e-9, atol=1e-9)
    lmp.close()


def test_old_module_paths_still_import():
    """Every old top-level module path that users, pair files or installed launchers name."""
    for old, names in {"interface": ["UniversalASEUnifiedMLIAPInterface"],
                       "system": ["AtomsCache"], "units": ["LammpsUnits"],
                       "torchsim": ["TorchSimCalculator"],
                       "client": ["SharedModelCalculator"],
                       "calculators": ["make_calculator", "check_options", "available"],
                       "_lmp": ["main"], "cli": ["main", "option"]}.items():
        module = importlib.import_module(f"{PACKAGE}.{old}")
        for name in names:
            assert hasattr(module, name), f"{PACKAGE}.{old}.{name}"
