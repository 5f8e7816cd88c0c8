# The one place that says how LAMMPS is configured for lammps-mliap-ase.
#
# User-facing switches (pip: -Ccmake.define.NAME=VALUE; scripts/build_lammps.sh maps its flags):
#   LMA_MPI          ON/OFF   build against the system MPI (default OFF: serial, MPI stubs)
#   LMA_KOKKOS       none|serial|openmp|cuda   KOKKOS back end (pair_style mliap/kk unified)
#   LMA_KOKKOS_ARCH  GPU architecture for cuda, as Kokkos names it: HOPPER90, AMPERE80, ADA89...
#   LMA_KOKKOS_ROOT  an installed Kokkos (>= 5.1, with the chosen back end) instead of the
#                    lib/kokkos of LAMMPS' GitHub tarball (LMA_KOKKOS_SOURCE: LammpsSource.cmake)
# Output: LMA_LAMMPS_CMAKE_ARGS, the arguments for LAMMPS' own cmake/CMakeLists.txt, and
# LMA_BUILD_NAME, the inner build folder (one per back end: switching never reconfigures a
# finished build with another compiler).

option(LMA_MPI "Build LAMMPS with MPI (system MPI)" OFF)
set(LMA_KOKKOS "none" CACHE STRING "KOKKOS back end: none, serial, openmp or cuda")
set_property(CACHE LMA_KOKKOS PROPERTY STRINGS none serial openmp cuda)
set(LMA_KOKKOS_ARCH "" CACHE STRING "Kokkos GPU architecture for LMA_KOKKOS=cuda (HOPPER90, AMPERE80, ADA89, ...)")
set(LMA_KOKKOS_ROOT "" CACHE PATH "Installed Kokkos (>= 5.1) to build against instead of lib/kokkos")

if(NOT LMA_KOKKOS MATCHES "^(none|serial|openmp|cuda)$")
  message(FATAL_ERROR "LMA_KOKKOS=${LMA_KOKKOS}: use none, serial, openmp or cuda")
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
    -DFFT=KISS
    -DWITH_JPEG=OFF -DWITH_PNG=OFF -DWITH_FFMPEG=OFF
    -DCMAKE_INSTALL_LIBDIR=lib)
foreach(_pkg IN LISTS LMA_LAMMPS_PACKAGES)
  list(APPEND LMA_LAMMPS_CMAKE_ARGS -DPKG_${_pkg}=ON)
endforeach()

set(LMA_BUILD_NAME "lammps-build")
if(LMA_KOKKOS STREQUAL "none")
  list(APPEND LMA_LAMMPS_CMAKE_ARGS -DPKG_KOKKOS=OFF)
else()
  set(LMA_BUILD_NAME "lammps-build-kokkos-${LMA_KOKKOS}")
  # Kokkos 5 needs C++20; LAMMPS' KOKKOS.cmake refuses less
  list(APPEND LMA_LAMMPS_CMAKE_ARGS -DPKG_KOKKOS=ON -DCMAKE_CXX_STANDARD=20
       -DKokkos_ENABLE_SERIAL=ON -DKokkos_ENABLE_DEPRECATION_WARNINGS=OFF)
  if(LMA_KOKKOS STREQUAL "openmp")
    list(APPEND LMA_LAMMPS_CMAKE_ARGS -DKokkos_ENABLE_OPENMP=ON)
  elseif(LMA_KOKKOS STREQUAL "cuda")
    if(NOT LMA_KOKKOS_ARCH)
      message(FATAL_ERROR "LMA_KOKKOS=cuda needs LMA_KOKKOS_ARCH (--kokkos-arch): the GPU "
                          "generation as Kokkos names it, e.g. HOPPER90 (H100/H200), AMPERE80 "
                          "(A100), ADA89 (L40S, RTX 4090)")
    endif()
    list(APPEND LMA_LAMMPS_CMAKE_ARGS -DKokkos_ENABLE_CUDA=ON -DKokkos_ARCH_${LMA_KOKKOS_ARCH}=ON
         -DFFT_KOKKOS=CUFFT)
  endif()
  # Where Kokkos comes from: an installed one, or lib/kokkos inside the LAMMPS tree (GitHub's
  # release tarball has it; Debian's source drops it, LMA_KOKKOS_SOURCE puts a Kokkos
  # release there)
  if(LMA_KOKKOS_ROOT)
    if(NOT EXISTS "${LMA_KOKKOS_ROOT}")
      message(FATAL_ERROR "LMA_KOKKOS_ROOT=${LMA_KOKKOS_ROOT} does not exist")
    endif()
    list(APPEND LMA_LAMMPS_CMAKE_ARGS -DEXTERNAL_KOKKOS=ON "-DKokkos_ROOT=${LMA_KOKKOS_ROOT}")
    set(_lma_nvcc_wrapper "${LMA_KOKKOS_ROOT}/bin/nvcc_wrapper")
  elseif(EXISTS "${LAMMPS_PATCHED_DIR}/lib/kokkos/CMakeLists.txt")
    set(_lma_nvcc_wrapper "${LAMMPS_PATCHED_DIR}/lib/kokkos/bin/nvcc_wrapper")
  else()
    message(FATAL_ERROR "LMA_KOKKOS=${LMA_KOKKOS} needs Kokkos, but this LAMMPS source has no "
            "lib/kokkos (Debian's source package drops it). Give a Kokkos release tarball "
            "(>= 5.1.0) with --kokkos-source FILE (LMA_KOKKOS_SOURCE) or an installed Kokkos "
            "with --kokkos-root DIR (LMA_KOKKOS_ROOT), or build from LAMMPS' GitHub tarball.")
  endif()
  if(LMA_KOKKOS STREQUAL "cuda")
    # Kokkos' CUDA back end compiles all C++ through nvcc via its wrapper (LAMMPS' preset)
    if(NOT EXISTS "${_lma_nvcc_wrapper}")
      message(FATAL_ERROR "No nvcc_wrapper at ${_lma_nvcc_wrapper}")
    endif()
    list(APPEND LMA_LAMMPS_CMAKE_ARGS "-DCMAKE_CXX_COMPILER=${_lma_nvcc_wrapper}")
  endif()
endif()
