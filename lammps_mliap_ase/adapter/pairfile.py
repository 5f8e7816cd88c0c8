"""What a pair file holds: the interface's pickled state, its format version and its writer.

Why a module of its own: pair files (`lammps-ase write-pair`, `interface.pickle(...)`) are user
data that live for years in job folders, and each release may add attributes to the pickled
interface.  An attribute added without a default broke every older pair file at its first use
(`AttributeError: ... 'energy_only_trials'`).  So the state carries a format number; loading
fills what an older format lacks from one table of defaults (`upgrade`), refuses a newer
format in one line naming the release that wrote it, and never trusts transient state (caches,
this process' coupling object) from the file.  docs/pair-files.md lists the formats;
tests/data/pair_files/ keeps one file of each, and tests/test_pair_files.py loads them all.
"""

from __future__ import annotations

import copy
import importlib.metadata

from ..errors import PairFileError

#: 1: no format field (every release up to 0.1.0: three layouts, docs/pair-files.md);
#: 2: `pair_format` and `written_by` in the state (0.2.0 on).
PAIR_FORMAT = 2
FORMAT_KEY = "pair_format"
WRITER_KEY = "written_by"


def writer() -> str:
    """This installation, as a pair file names its writer."""
    try:
        version = importlib.metadata.version("lammps-mliap-ase")
    except importlib.metadata.PackageNotFoundError:  # a checkout on PYTHONPATH, not installed
        version = "(not installed)"
    return f"lammps-mliap-ase {version}"


def stamp(state: dict) -> dict:
    """`state` as a pair file stores it: with this format's number and its writer."""
    return {**state, FORMAT_KEY: PAIR_FORMAT, WRITER_KEY: writer()}


def upgrade(state: dict, defaults: dict[str, object], removed: tuple[str, ...] = ()) -> dict:
    """The state of a pair file of any format up to this one, with this format's attributes.

    `defaults`: every attribute an older format may lack, with what such a file means by it;
    `removed`: attributes older formats held that mean nothing now (dropped on load).
    A file of a newer format raises PairFileError naming its writer: its attributes may mean
    what this release cannot know, and guessing would give silently different numbers.
    """
    state = dict(state)
    found = state.pop(FORMAT_KEY, 1)
    written_by = state.pop(WRITER_KEY, "lammps-mliap-ase 0.1.0 or earlier")
    if not isinstance(found, int) or found > PAIR_FORMAT:
        raise PairFileError(
            f"this pair file was written by {written_by} (pair-file format {found}); "
            f"{writer()} reads formats up to {PAIR_FORMAT}: install that release or a newer "
            "one, or write the pair file again here (lammps-ase write-pair)")
    for name in removed:
        state.pop(name, None)
    for name, value in defaults.items():
        if name not in state:
            state[name] = copy.copy(value)  # a fresh set/list per loaded interface
    return state
