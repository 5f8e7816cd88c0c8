#!/usr/bin/env bash
# Print an interpreter of the same environment that shares one Python runtime with liblammps.
#
#   scripts/lammps_python.sh [PYTHON]        # default: python3 on PATH
#
# Why: liblammps links libpythonX.Y.so, and LAMMPS' Python-based ML-IAP assumes the driving
# interpreter *is* that library (lammps/mliap/__init__.py tests it).  A statically linked
# interpreter (the python3 of Debian and Ubuntu, and venvs made from it) instead holds a second
# copy of the runtime once liblammps is loaded; LAMMPS' test can still pass, as it did on our
# GPU node (Ubuntu 24.04, Python 3.12).  Such an interpreter gets a 3-line launcher linked to
# the shared library (Py_BytesMain, as python.c itself), built once into the environment's bin/
# as python-lammps, where it finds the same pyvenv.cfg and site-packages.  An interpreter that
# is linked to libpython is printed as is.  (On that node a native abort, "free(): invalid
# pointer", happened with either interpreter: docs/performance.md.)
set -euo pipefail
py=$(command -v "${1:-python3}") || { echo "[lammps_python] error: no python at ${1:-python3}" >&2; exit 2; }

exe=$("$py" -c 'import os, sys; print(os.path.realpath(sys.executable))')
if ldd "$exe" 2>/dev/null | grep -q libpython; then
    echo "$py"
    exit 0
fi
read -r inc libdir ldver < <("$py" -c 'import sysconfig as s; print(s.get_paths()["include"], s.get_config_var("LIBDIR"), s.get_config_var("LDVERSION"))')
[ -e "$libdir/libpython$ldver.so" ] || {
    echo "[lammps_python] error: $py has no shared libpython$ldver.so in $libdir (Debian: apt-get install libpython3-dev)" >&2; exit 2; }

launcher=$(dirname "$py")/python-lammps
if [ ! -x "$launcher" ]; then
    src=$(mktemp --suffix=.c)
    printf '#include <Python.h>\nint main(int argc, char **argv) { return Py_BytesMain(argc, argv); }\n' >"$src"
    cc -O2 -o "$launcher" "$src" -I"$inc" -L"$libdir" -lpython"$ldver" -Wl,-rpath,"$libdir" \
        || { rm -f "$src"; echo "[lammps_python] error: could not build $launcher (needs cc and the Python headers)" >&2; exit 2; }
    rm -f "$src"
    echo "[lammps_python] $py is linked statically: built $launcher, linked to libpython$ldver.so" >&2
fi
echo "$launcher"
