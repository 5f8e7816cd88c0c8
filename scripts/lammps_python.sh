#!/usr/bin/env bash
# Print an interpreter of the same environment that can drive LAMMPS' Python-based ML-IAP.
#
#   scripts/lammps_python.sh [--launcher] [PYTHON]   # default: python3 on PATH
#
# --launcher: build and print the launcher even where LAMMPS' test passes (a test that passes
# does not prove one runtime: a dlopen'ed libpython may still share the executable's state).
#
# Why: liblammps links libpythonX.Y.so.  A Python whose interpreter is linked statically (the
# python3 of Debian and Ubuntu, and venvs made from it) then holds TWO copies of the runtime
# once `import lammps.mliap` loads that library: LAMMPS' own check warns "This interpreter is
# not compatible with python-based MLIAP", and the process soon dies ("free(): invalid
# pointer", seen on a GPU node with Ubuntu 24.04's Python 3.12).  The remedy is an interpreter
# linked against the shared library: a 3-line launcher (Py_BytesMain, as python.c itself),
# compiled once into the environment's bin/ as python-lammps, where it finds the same
# pyvenv.cfg and site-packages.  A Python that already shares the library is printed as is.
set -euo pipefail
force=0
[ "${1:-}" = --launcher ] && { force=1; shift; }
py=$(command -v "${1:-python3}") || { echo "[lammps_python] error: no python at ${1:-python3}" >&2; exit 2; }

# LAMMPS' own test (lammps/mliap/__init__.py): the library it names must be this interpreter.
shared=$("$py" - <<'PY'
import ctypes, sysconfig
name = "libpython" + sysconfig.get_config_var("VERSION") + sysconfig.get_config_var("abiflags") + ".so"
try:
    print(int(ctypes.CDLL(name).Py_IsInitialized()))
except OSError:
    print("missing")
PY
)
# An interpreter linked to libpython shares the one runtime with liblammps; a static one does
# not, whatever LAMMPS' test says (it passed on the node where the process then crashed).
linked=0
ldd "$("$py" -c 'import sys, os; print(os.path.realpath(sys.executable))')" 2>/dev/null \
    | grep -q libpython && linked=1
case "$shared" in
    1) [ $force = 1 ] || [ $linked = 0 ] || { echo "$py"; exit 0; } ;;
    missing) echo "[lammps_python] error: $py has no shared libpython (Debian: apt-get install libpython3-dev)" >&2; exit 2 ;;
esac

launcher=$(dirname "$py")/python-lammps
if [ ! -x "$launcher" ]; then
    read -r inc libdir ldver < <("$py" -c 'import sysconfig as s; print(s.get_paths()["include"], s.get_config_var("LIBDIR"), s.get_config_var("LDVERSION"))')
    src=$(mktemp --suffix=.c)
    printf '#include <Python.h>\nint main(int argc, char **argv) { return Py_BytesMain(argc, argv); }\n' >"$src"
    cc -O2 -o "$launcher" "$src" -I"$inc" -L"$libdir" -lpython"$ldver" -Wl,-rpath,"$libdir" \
        || { rm -f "$src"; echo "[lammps_python] error: could not build $launcher (needs cc and the Python headers)" >&2; exit 2; }
    rm -f "$src"
    echo "[lammps_python] built $launcher: $py linked to libpython$ldver.so (LAMMPS' test: $shared, interpreter linked to libpython: $linked)" >&2
fi
echo "$launcher"
