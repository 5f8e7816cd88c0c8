"""Check a LAMMPS input before `lammps-ase run` starts LAMMPS with a calculator.

Why: `--calc NAME` acts only where the input says `pair_style mliap unified EXISTS 0`.  An input
without it runs its own pair style and would silently ignore the calculator; a pair file name
instead of EXISTS would load another model.  LAMMPS cannot say so (it never sees `--calc`), so
the input is read here first: the file itself and the files it `include`s, with `-var` values and
the input's own `variable NAME index|string VALUE` lines substituted.  Where a `pair_style` or
`include` line still holds a variable that cannot be resolved, the check cannot decide and stays
silent (the command line then warns after the run if the calculator was never connected).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError

_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w)")


def _lines(path: Path) -> Iterator[list[str]]:
    """Commands of an input file as word lists: comments stripped, `&` continuations joined."""
    pending = ""
    for raw in path.read_text(errors="replace").splitlines():
        line = pending + raw.split("#", 1)[0]
        if line.rstrip().endswith("&"):
            pending = line.rstrip()[:-1] + " "
            continue
        pending = ""
        if line.split():
            yield line.split()


def _substitute(words: list[str], variables: dict[str, str]) -> list[str] | None:
    """Words with $x and ${name} replaced; None when a variable is unknown."""
    text = " ".join(words)
    unknown = False

    def value(match: re.Match) -> str:
        nonlocal unknown
        name = match.group(1) or match.group(2)
        if name not in variables:
            unknown = True
            return ""
        return variables[name]

    text = _VARIABLE.sub(value, text)
    return None if unknown else text.split()


def _unified_target(words: list[str]) -> str | None:
    """The model argument of `mliap unified X` in a pair_style line (also inside hybrid)."""
    for i, word in enumerate(words[:-2]):
        if word.split("/")[0] == "mliap" and words[i + 1] == "unified":
            return words[i + 2]
    return None


def pair_styles(path: Path, variables: dict[str, str]) -> tuple[list[list[str]], bool]:
    """All pair_style commands of `path` and the files it includes, and whether every
    pair_style and include line could be resolved."""
    styles: list[list[str]] = []
    resolved = True
    variables = dict(variables)
    seen: set[Path] = set()

    def read(file: Path) -> None:
        nonlocal resolved
        if file in seen or not file.is_file():
            resolved = resolved and file in seen
            return
        seen.add(file)
        for words in _lines(file):
            command = words[0]
            if command == "variable" and len(words) >= 4 and words[2] in ("index", "string"):
                variables.setdefault(words[1], words[3])  # -var and the first definition win
            elif command in ("pair_style", "include"):
                done = _substitute(words, variables)
                if done is None:
                    resolved = False
                elif command == "pair_style":
                    styles.append(done)
                elif len(done) > 1:
                    read(Path(done[1]))

    read(path)
    return styles, resolved


def check_run_input(path: Path, chosen: str, variables: dict[str, str]) -> None:
    """Refuse an input on which the calculator `chosen` (e.g. "--calc emt") would have no
    effect, or that does not exist (InputError, one line)."""
    if not path.is_file():
        raise InputError(f"input file '{path}' not found (lammps-ase run -in FILE: a LAMMPS "
                         "input script with 'pair_style mliap unified EXISTS 0')")
    styles, resolved = pair_styles(path, variables)
    targets = [t for t in (_unified_target(s) for s in styles) if t is not None]
    if "EXISTS" in targets or not resolved:
        return
    if targets:
        raise InputError(
            f"{path} loads its model from '{targets[0]}' (pair_style mliap unified "
            f"{targets[0]} ...), so {chosen} would be ignored: write 'pair_style mliap "
            f"unified EXISTS 0' to use it, or run the input with plain lmp")
    found = f"its pair style is '{' '.join(styles[-1][1:])}'" if styles else "it sets no pair_style"
    raise InputError(
        f"{path} has no 'pair_style mliap unified EXISTS 0' ({found}), so {chosen} would "
        f"be ignored: write 'pair_style mliap unified EXISTS 0' and 'pair_coeff * * ELEMENT ...' "
        "(one element per atom type) where the calculator should act, or run plain lmp")
