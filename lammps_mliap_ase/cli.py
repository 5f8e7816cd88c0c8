"""`lammps-ase`: run ordinary LAMMPS inputs with an ASE calculator, write pair files, report.

    lammps-ase run -in in.lammps --calc orb-v3-direct-omol --device cuda [-var NAME VALUE ...]
    lammps-ase write-pair orb.pkl --calc orb-v3-direct-omol [--calc-opt KEY=VALUE ...]
    lammps-ase info

In the input, `pair_style mliap unified EXISTS 0` refers to the calculator chosen here.  Under
`mpirun -np N lammps-ase run ...` every rank runs the input; the bridge's gather mode evaluates
the model once per step on rank 0.
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import sys
from pathlib import Path

from .calculators import available
from .errors import BridgeError
from .interface import MODES, UniversalASEUnifiedMLIAPInterface


def option(text: str) -> tuple[str, object]:
    """KEY=VALUE with VALUE a Python literal when it parses as one (3.5, True, 'x'), else text."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def _calculator_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calc", required=True,
                        help=f"calculator: {', '.join(available())} or package.module:Factory")
    parser.add_argument("--device", help="device for torch models (cpu, cuda, cuda:1)")
    parser.add_argument("--precision", help="model precision, e.g. float32-high or float64")
    parser.add_argument("--weights", help="local weights/checkpoint file instead of the name")
    parser.add_argument("--calc-opt", type=option, action="append", default=[],
                        metavar="KEY=VALUE", help="further calculator option (repeatable)")
    parser.add_argument("--mode", choices=MODES, default="auto", help="system mode (docs/modes.md)")
    parser.add_argument("--charge", type=int, help="total charge for atoms.info")
    parser.add_argument("--spin", type=int, help="spin multiplicity for atoms.info")


def build_interface(args: argparse.Namespace) -> UniversalASEUnifiedMLIAPInterface:
    options = dict(args.calc_opt)
    for key in ("device", "precision", "weights"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    interface_options = {"mode": args.mode}
    for key in ("charge", "spin"):
        if getattr(args, key) is not None:
            interface_options[key] = getattr(args, key)
    return UniversalASEUnifiedMLIAPInterface.from_registry(args.calc, options,
                                                           **interface_options)


def cmd_run(args: argparse.Namespace) -> int:
    try:  # under mpirun, MPI must be initialised by mpi4py (global symbols for Open MPI's
        from mpi4py import MPI  # noqa: F401  plugins) before LAMMPS, or each rank runs alone
    except ImportError:
        pass
    import lammps
    import lammps.mliap

    cmdargs = ["-log", args.log] + (["-screen", "none"] if args.quiet else [])
    for name, value in args.var:
        cmdargs += ["-var", name, value]
    if args.nocite:
        cmdargs.append("-nocite")
    lmp = lammps.lammps(cmdargs=cmdargs)
    lammps.mliap.activate_mliappy(lmp)
    lammps.mliap.load_unified(build_interface(args))
    try:
        lmp.file(str(args.input))
    finally:
        lmp.close()
    return 0


def cmd_write_pair(args: argparse.Namespace) -> int:
    interface = build_interface(args)
    interface.pickle(str(args.output))
    print(f"wrote {args.output}: use `pair_style mliap unified {args.output} 0` with the `lmp` "
          "of this environment.  Pickles run code when loaded: only load files you trust.")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import lammps

    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    pkg_dir = Path(lammps.__file__).parent
    build = (pkg_dir / "build_info.txt")
    print(f"LAMMPS {lmp.version()} ({lmp.extract_setting('bigint') * 8}-bit bigint)")
    print(f"lammps-mliap-ase {importlib.metadata.version('lammps-mliap-ase')}")
    if build.exists():
        print("build: " + ", ".join(build.read_text().split()))
    print(f"MPI: {'yes' if lmp.has_mpi_support else 'no'}   "
          f"KOKKOS: {'yes' if lmp.has_package('KOKKOS') else 'no'}   "
          f"ML-IAP Python: {'yes' if lmp.has_style('pair', 'mliap') else 'no'}")
    print("packages: " + " ".join(lmp.installed_packages))
    print("calculators: " + ", ".join(available()) + ", package.module:Factory")
    try:
        import torch

        devices = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        print(f"torch {torch.__version__}; devices: {', '.join(devices)}")
    except ImportError:
        print("torch: not installed (models need the [orb] extra)")
    lmp.close()
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lammps-ase", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a LAMMPS input with the chosen calculator")
    run.add_argument("-in", "--input", dest="input", type=Path, required=True)
    run.add_argument("-var", "--var", nargs=2, action="append", default=[],
                     metavar=("NAME", "VALUE"), help="LAMMPS index variable (repeatable)")
    run.add_argument("-log", "--log", default="log.lammps")
    run.add_argument("--quiet", action="store_true", help="no screen output")
    run.add_argument("--nocite", action="store_true")
    _calculator_arguments(run)
    run.set_defaults(func=cmd_run)
    write = sub.add_parser("write-pair", help="write a pair file for plain `lmp`")
    write.add_argument("output", type=Path)
    _calculator_arguments(write)
    write.set_defaults(func=cmd_write_pair)
    info = sub.add_parser("info", help="versions, packages, calculators, devices")
    info.set_defaults(func=cmd_info)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except BridgeError as exc:  # setup mistakes: one line, no traceback
        print(f"lammps-ase: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
