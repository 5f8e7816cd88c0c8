# The one place that says how LAMMPS is configured for lammps-mliap-ase.
#
# User-facing switches (pip: -Ccmake.define.NAME=VALUE; scripts/build_lammps.sh maps its flags):
#   LMA_MPI     ON/OFF   build against the system MPI (default OFF: serial, MPI stubs)
#   LMA_KOKKOS  none|serial|openmp|cuda   KOKKOS back end (not yet implemented: only 'none')
# Output: LMA_LAMMPS_CMAKE_ARGS, the arguments for LAMMPS' own cmake/CMakeLists.txt.

option(LMA_MPI "Build LAMMPS with MPI (system MPI)" OFF)
set(LMA_KOKKOS "none" CACHE STRING "KOKKOS back end: none, serial, openmp or cuda")
set_property(CACHE LMA_KOKKOS PROPERTY STRINGS none serial openmp cuda)

if(NOT LMA_KOKKOS STREQUAL "none")
  message(FATAL_ERROR "LMA_KOKKOS=${LMA_KOKKOS}: KOKKOS builds are not implemented yet; use none")
endif()

# Packages: ML-IAP with its Python coupling and what ML potentials are used with in practice
# (GCMC, long-range electrostatics, molecules and rigid bodies, spins and dipoles for magmoms).
set(LMA_LAMMPS_PACKAGES
    ML-IAP ML-SNAP PYTHON MC KSPACE MOLECULE RIGID EXTRA-FIX EXTRA-PAIR SPIN DIPOLE)

set(LMA_LAMMPS_CMAKE_ARGS
    -DCMAKE_BUILD_TYPE=Release
    -DBUILD_SHARED_LIBS=ON
    -DLAMMPS_EXCEPTIONS=ON
    -DMLIAP_ENABLE_PYTHON=ON
    -DBUILD_MPI=${LMA_MPI}
    -DBUILD_OMP=ON
    -DPKG_KOKKOS=OFF
    -DFFT=KISS
    -DWITH_JPEG=OFF -DWITH_PNG=OFF -DWITH_FFMPEG=OFF
    -DCMAKE_INSTALL_LIBDIR=lib)
foreach(_pkg IN LISTS LMA_LAMMPS_PACKAGES)
  list(APPEND LMA_LAMMPS_CMAKE_ARGS -DPKG_${_pkg}=ON)
endforeach()
