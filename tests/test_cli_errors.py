"""What a new user meets on the command line: each mistake ends in one line `ERROR: ...` that
names the cause and the fix (no Python traceback unless --debug), and `--help` says what the
input needs.  Each command runs in a subprocess, as a user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
BIN = Path(sys.executable).parent
SETUP = """units {units}
atom_style atomic
lattice fcc 3.61
region box block 0 2 0 2 0 2
create_box {ntypes} box
create_atoms 1 box
mass * 63.546
"""


REPO = Path(__file__).resolve().parents[1]
# the command line of this checkout (the installed `lammps-ase` script is a copy made at build)
LAMMPS_ASE = [sys.executable, "-m", "lammps_mliap_ase.cli"]


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


def lammps_ase(*args: str, cwd: Path, **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*LAMMPS_ASE, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env(**extra_env))


def write_input(tmp_path: Path, body: str, units: str = "metal", ntypes: int = 1) -> str:
    (tmp_path / "in.test").write_text(SETUP.format(units=units, ntypes=ntypes) + body)
    return "in.test"


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    """The distinct ERROR lines of stdout (LAMMPS' own screen) and stderr (where every error
    goes, LAMMPS' own again when stdout is another file); no traceback anywhere."""
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out[-3000:]
    return list(dict.fromkeys(line for line in out.splitlines() if line.startswith("ERROR")))


def one_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0
    lines = error_lines(proc)
    assert len(lines) == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    return lines[0]


def test_missing_input_file(tmp_path):
    line = one_error(lammps_ase("run", "-in", "in.nothere", "--calc", "emt", cwd=tmp_path))
    assert line.startswith("ERROR: input file 'in.nothere' not found"), line


def test_input_without_mliap_unified_is_refused(tmp_path):
    inp = write_input(tmp_path, "pair_style lj/cut 5.0\npair_coeff * * 0.4 2.3\nrun 0\n")
    line = one_error(lammps_ase("run", "-in", inp, "--calc", "emt", cwd=tmp_path))
    assert "has no 'pair_style mliap unified EXISTS 0' (its pair style is 'lj/cut 5.0'), so " \
           "--calc emt would be ignored" in line, line
    assert not (tmp_path / "log.lammps").exists()  # refused before LAMMPS started


def test_input_with_a_pair_file_is_refused(tmp_path):
    inp = write_input(tmp_path, "pair_style mliap unified cu.pkl 0\npair_coeff * * Cu\n")
    line = one_error(lammps_ase("run", "-in", inp, "--calc", "emt", cwd=tmp_path))
    assert "loads its model from 'cu.pkl'" in line, line


def test_variables_and_includes_are_followed(tmp_path):
    """-var and include are resolved as LAMMPS would: the shipped test input passes."""
    from lammps_mliap_ase.cli.inputcheck import check_run_input

    check_run_input(DATA / "in.cu_nve", "--calc emt", {})
    (tmp_path / "pair.in").write_text("pair_style mliap unified ${p} 0\n")
    (tmp_path / "in.main").write_text("variable p index EXISTS\ninclude ${dir}/pair.in\n")
    check_run_input(tmp_path / "in.main", "--calc emt", {"dir": str(tmp_path)})
    with pytest.raises(Exception, match="loads its model from 'x.pkl'"):
        check_run_input(tmp_path / "in.main", "--calc emt", {"dir": str(tmp_path), "p": "x.pkl"})


@pytest.mark.parametrize("name, hint", [("Cx", "'Cx', which is not an element"),
                                        ("cu", "element names are case-sensitive, use 'Cu'")])
def test_unknown_element_one_line(tmp_path, name, hint):
    inp = write_input(tmp_path, f"pair_style mliap unified EXISTS 0\npair_coeff * * {name}\n")
    line = one_error(lammps_ase("run", "-in", inp, "--calc", "emt", cwd=tmp_path))
    assert hint in line, line


def test_units_lj_one_line(tmp_path):
    inp = write_input(tmp_path, "pair_style mliap unified EXISTS 0\npair_coeff * * Cu\n",
                      units="lj")
    line = one_error(lammps_ase("run", "-in", inp, "--calc", "emt", cwd=tmp_path))
    assert "UnsupportedUnitsError: units lj are reduced units" in line, line


def test_quiet_run_still_prints_the_error_once(tmp_path):
    inp = write_input(tmp_path, "pair_style mliap unified EXISTS 0\npair_coeff * * cu\n")
    proc = lammps_ase("run", "-in", inp, "--calc", "emt", "--quiet", cwd=tmp_path)
    assert proc.stdout == ""
    assert "use 'Cu'" in one_error(proc)


def test_element_the_calculator_lacks_named_at_setup(tmp_path):
    inp = write_input(tmp_path, "pair_style mliap unified EXISTS 0\npair_coeff * * Fe\n"
                      "fix nve all nve\nrun 100\n")
    line = one_error(lammps_ase("run", "-in", inp, "--calc", "emt", cwd=tmp_path))
    assert "CalculatorSetupError: EMT cannot compute Fe" in line, line
    assert "No EMT-potential for Fe" in line and "choose another calculator" in line


def test_debug_shows_the_traceback(tmp_path):
    proc = lammps_ase("run", "-in", "in.nothere", "--calc", "emt", "--debug", cwd=tmp_path)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "InputError" in proc.stderr


def test_lj_without_parameters_is_refused(tmp_path):
    line = one_error(lammps_ase("write-pair", "x.pkl", "--calc", "lj", cwd=tmp_path))
    assert line.startswith("ERROR: lj needs sigma and epsilon"), line
    proc = lammps_ase("write-pair", "x.pkl", "--calc", "lj", "--calc-opt", "sigma=3.405",
                      "--calc-opt", "epsilon=0.0103", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_run_help_names_every_option_and_the_input_requirement(tmp_path):
    proc = lammps_ase("run", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert "pair_style mliap unified EXISTS 0" in text
    for option in ("-in FILE", "-log FILE", "--quiet", "--nocite", "--debug", "-var NAME VALUE"):
        block = text[text.index(option):]
        # each option is followed by its help text, not directly by the next option
        assert not block[len(option):].lstrip().startswith("-"), option


def test_plain_lmp_with_exists_says_how_to_load_a_model(tmp_path):
    (tmp_path / "in.test").write_text(SETUP.format(units="metal", ntypes=1)
                                      + "pair_style mliap unified EXISTS 0\n")
    proc = subprocess.run([str(BIN / "lmp"), "-in", "in.test", "-nocite"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "No unified model loaded" in out
    assert "lammps-ase run -in FILE --calc NAME" in out and "lammps-ase write-pair" in out


def test_pair_coeff_with_fewer_elements_than_types_is_an_error_not_a_crash(tmp_path):
    """Upstream read past pair_coeff's arguments (segfault; patch 0016).  LAMMPS runs in a
    subprocess so that a crash fails this test instead of killing pytest."""
    inp = write_input(tmp_path, "pair_style mliap unified EXISTS 0\npair_coeff * * Cu\n",
                      ntypes=2)
    proc = lammps_ase("run", "-in", inp, "--calc", "emt", cwd=tmp_path)
    assert proc.returncode == 1, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    line = one_error(proc)
    assert "pair_coeff * * Cu gives 1 element name(s) for 2 atom types: give one element " \
           "(or NULL) per atom type, e.g. 'pair_coeff * * Cu Cu'" in line, line


def test_unresolvable_pair_style_warns_after_the_run(tmp_path):
    """A pair style hidden in a variable the check cannot read: LAMMPS runs, then one warning."""
    inp = write_input(tmp_path, "variable ps getenv PS\npair_style ${ps}\n"
                      "pair_coeff * * 0.4 2.3\nrun 0\n")
    proc = lammps_ase("run", "-in", inp, "--calc", "emt", cwd=tmp_path, PS="lj/cut 5.0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("WARNING") == 1
    assert "in.test never set 'pair_style mliap unified EXISTS 0': --calc emt was not used" \
        in proc.stderr


def test_other_python_errors_are_one_line_with_a_debug_hint(tmp_path):
    line = one_error(lammps_ase("write-pair", "x.pkl", "--calc", "math:sqrt", cwd=tmp_path))
    assert line.startswith("ERROR: TypeError: ") and line.endswith(
        "(--debug or LAMMPS_ASE_DEBUG=1 shows the traceback)"), line


# -- calculator options are checked (models/options.py) -----------------------------------------

LJ_ARGON = ["--calc", "lj", "--calc-opt", "sigma=3.405", "--calc-opt", "epsilon=0.0103"]


def test_unknown_calculator_option_names_the_closest(tmp_path):
    """A typo used to vanish into ASE's Calculator(**kwargs); now it is refused, in `run` before
    LAMMPS starts, in `write-pair` before a file is written, in `serve` before it listens."""
    inp = write_input(tmp_path, "pair_style mliap unified EXISTS 0\npair_coeff * * Ar\nrun 0\n")
    for command in (["run", "-in", inp], ["write-pair", "x.pkl"],
                    ["serve", "--socket", "x.sock"]):
        line = one_error(lammps_ase(*command, *LJ_ARGON, "--calc-opt", "rcutt=6",
                                    cwd=tmp_path))
        assert line == "ERROR: lj has no option 'rcutt' (did you mean 'rc'?); its options are " \
                       "epsilon, rc, ro, sigma, smooth", line
    assert not any((tmp_path / name).exists() for name in ("log.lammps", "x.pkl", "x.sock"))
    line = one_error(lammps_ase("write-pair", "x.pkl", "--calc", "emt", "--device", "cuda",
                                cwd=tmp_path))
    assert line == "ERROR: emt has no option 'device'; its options are asap_cutoff", line


def test_wrong_option_type_names_the_option_and_an_example(tmp_path):
    line = one_error(lammps_ase("write-pair", "x.pkl", "--calc", "lj", "--calc-opt",
                                "sigma=abc", "--calc-opt", "epsilon=0.0103", cwd=tmp_path))
    assert line == "ERROR: option sigma of lj takes a number, not 'abc': e.g. sigma=1.5", line
    line = one_error(lammps_ase("write-pair", "x.pkl", "--calc", "emt", "--calc-opt",
                                "asap_cutoff=maybe", cwd=tmp_path))
    assert line == "ERROR: option asap_cutoff of emt takes true or false (yes/no, on/off, 1/0), " \
                   "not 'maybe': e.g. asap_cutoff=false", line


@pytest.mark.parametrize("text, value", [("false", False), ("FALSE", False), ("no", False),
                                         ("Off", False), ("0", False), ("true", True),
                                         ("True", True), ("YES", True), ("on", True),
                                         ("1", True)])
def test_boolean_option_spellings(text, value):
    from lammps_mliap_ase.cli import option
    from lammps_mliap_ase.models.registry import check_options

    key, typed = option(f"asap_cutoff={text}")
    assert check_options("emt", {key: typed}) == {"asap_cutoff": value}


@pytest.mark.parametrize("text, value", [("false", False), ("on", True)])
def test_boolean_option_reaches_the_calculator(tmp_path, text, value):
    """`asap_cutoff=false` used to switch EMT's option on (the string 'false' is truthy): the
    pair file's recipe, and the calculator it rebuilds, hold the boolean."""
    import pickle

    proc = lammps_ase("write-pair", "emt.pkl", "--calc", "emt", "--calc-opt",
                      f"asap_cutoff={text}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    interface = pickle.loads((tmp_path / "emt.pkl").read_bytes())
    assert interface._recipe == ("emt", {"asap_cutoff": value})
    assert interface.calculator.parameters["asap_cutoff"] is value


@pytest.mark.parametrize("command", ["run", "write-pair"])
@pytest.mark.parametrize("flags", [["--calc", "emt"], ["--calc-opt", "seed=7"],
                                   ["--device", "cuda"], ["--precision", "float64"],
                                   ["--weights", "w.ckpt"]])
def test_server_with_calculator_options_is_refused(tmp_path, command, flags):
    """The server's model is chosen where the server starts: options next to --server used to
    be dropped without a word.  Refused before any connection is tried (no server exists)."""
    inp = write_input(tmp_path, "pair_style mliap unified EXISTS 0\npair_coeff * * Cu\nrun 0\n")
    where = ["-in", inp] if command == "run" else ["x.pkl"]
    line = one_error(lammps_ase(command, *where, "--server", "nowhere.sock", *flags,
                                cwd=tmp_path))
    assert line.startswith("ERROR: the server's model is chosen where it is started "
                           "(lammps-ase serve --calc NAME ...), not by its replicas: drop "
                           f"{flags[0]} here"), line


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_server_address_that_is_no_socket_is_refused_at_once(tmp_path, kind):
    """`--server PATH` where PATH is a plain file or a folder: no server will ever listen
    there, so it is refused at once (it used to wait for one, 300 s)."""
    path = tmp_path / "some_file"
    path.mkdir() if kind == "folder" else path.write_text("not a socket\n")
    inp = write_input(tmp_path, "pair_style mliap unified EXISTS 0\npair_coeff * * Cu\nrun 0\n")
    line = one_error(lammps_ase("run", "-in", inp, "--server", "some_file", cwd=tmp_path))
    assert line == (f"ERROR: some_file is a {kind}, not a model server's socket: pass the socket "
                    "that `lammps-ase serve` printed ('listening on PATH'), or start a server "
                    "there with `lammps-ase serve --calc NAME --socket PATH` at a free path"), line


def test_server_timeout_bounds_the_wait_for_a_server_that_is_not_up(tmp_path):
    """--server-timeout is the one option for every wait of a replica: here the default (600 s)
    would outlast the subprocess' own limit (300 s), so finishing at all shows it was used."""
    inp = write_input(tmp_path, "pair_style mliap unified EXISTS 0\npair_coeff * * Cu\nrun 0\n")
    proc = lammps_ase("run", "-in", inp, "--server", "nobody.sock", "--server-timeout", "3",
                      cwd=tmp_path)
    line = one_error(proc)
    assert line.startswith("ERROR: no model server at nobody.sock"), line
    assert "waiting up to 3 s for the model server" in proc.stderr


def test_an_error_of_the_model_reaches_stderr(tmp_path):
    """A job script that keeps stderr apart (`> out 2> err`) finds every error there, LAMMPS'
    own message too (it used to be on the screen, stdout, only)."""
    inp = write_input(tmp_path, "pair_style mliap unified EXISTS 0\npair_coeff * * Fe\nrun 0\n")
    proc = lammps_ase("run", "-in", inp, "--calc", "emt", cwd=tmp_path)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "EMT cannot compute Fe" in errors[0], proc.stderr


@pytest.mark.parametrize("options, message", [
    (["sigma=-2.3", "epsilon=0.4"], "option sigma of lj must be > 0 (Angstrom), not -2.3"),
    (["sigma=2.3", "epsilon=0"], "option epsilon of lj must be > 0 (eV), not 0.0"),
    (["sigma=2.3", "epsilon=0.4", "rc=-1"], "option rc of lj must be > 0 (Angstrom), not -1.0"),
])
def test_options_outside_their_range_are_refused(tmp_path, options, message):
    """A negative sigma ran with exit code 0 and a meaningless energy."""
    flags = [word for option in options for word in ("--calc-opt", option)]
    line = one_error(lammps_ase("write-pair", "x.pkl", "--calc", "lj", *flags, cwd=tmp_path))
    assert line == f"ERROR: {message}", line
    assert not (tmp_path / "x.pkl").exists()


@pytest.mark.parametrize("args, message", [
    (["--trials", "energy_only"], "argument --trials: invalid choice: 'energy_only'"),
    (["--mode", "periodc"], "argument --mode: invalid choice: 'periodc'"),
    (["--server-timeout", "soon"], "argument --server-timeout: invalid float value: 'soon'"),
])
def test_command_line_misuse_is_one_line(tmp_path, args, message):
    """argparse's usage block is gone: one `ERROR:` line as for every other mistake."""
    proc = lammps_ase("run", "-in", "in.x", "--calc", "emt", *args, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "usage:" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith(f"ERROR: lammps-ase run: {message}"), proc.stderr
    assert proc.stderr.rstrip().endswith("(`lammps-ase run --help` lists the options)")
