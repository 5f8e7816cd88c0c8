# Resolve the LAMMPS source, extract it into the build tree and apply patches/*.patch.
#
# Why here and not in a shell script: the build must know *exactly* which source and which
# patches produced it.  The patched tree is keyed by the tarball's (or directory's) identity and
# the sha256 of every patch; when the key is unchanged the tree is left untouched, so file
# timestamps do not move and nothing is recompiled.
#
# Inputs (cache variables, set with -D or pip's -Ccmake.define.NAME=VALUE):
#   LAMMPS_SOURCE_TARBALL  a release tarball (GitHub's or Debian's .orig.tar.gz)
#   LAMMPS_SOURCE_DIR      an unpacked LAMMPS tree (copied, never modified)
#   LAMMPS_FETCH           auto | github | debian: how scripts/fetch_lammps_source.sh gets the
#                          tarball when neither of the above is given (auto: GitHub, else Debian)
# Output: LAMMPS_PATCHED_DIR, the patched tree (contains cmake/, src/, python/).

set(LAMMPS_SOURCE_TARBALL "" CACHE FILEPATH "LAMMPS release tarball to build (offline use)")
set(LAMMPS_SOURCE_DIR "" CACHE PATH "Unpacked LAMMPS source tree to build (copied, not modified)")
set(LAMMPS_FETCH "auto" CACHE STRING "Where to fetch LAMMPS when no source is given: auto, github or debian")
set_property(CACHE LAMMPS_FETCH PROPERTY STRINGS auto github debian)
set(LAMMPS_EXPECTED_VERSION "4 Jul 2026")

file(GLOB _lma_patches "${PROJECT_SOURCE_DIR}/patches/*.patch")
list(SORT _lma_patches)

if(LAMMPS_SOURCE_DIR)
  if(NOT EXISTS "${LAMMPS_SOURCE_DIR}/src/version.h")
    message(FATAL_ERROR "LAMMPS_SOURCE_DIR=${LAMMPS_SOURCE_DIR} is not a LAMMPS tree (no src/version.h)")
  endif()
  file(SHA256 "${LAMMPS_SOURCE_DIR}/src/version.h" _lma_origin_hash)
  set(_lma_origin "dir:${LAMMPS_SOURCE_DIR}:${_lma_origin_hash}")
else()
  if(NOT LAMMPS_SOURCE_TARBALL)
    message(STATUS "Fetching the LAMMPS source (${LAMMPS_FETCH}); offline: -DLAMMPS_SOURCE_TARBALL=...")
    execute_process(
      COMMAND bash "${PROJECT_SOURCE_DIR}/scripts/fetch_lammps_source.sh" "--${LAMMPS_FETCH}"
      OUTPUT_VARIABLE _lma_fetch_out OUTPUT_STRIP_TRAILING_WHITESPACE
      RESULT_VARIABLE _lma_fetch_rc)
    if(NOT _lma_fetch_rc EQUAL 0)
      message(FATAL_ERROR "Could not fetch the LAMMPS source (see above). Offline machines: "
                          "scripts/fetch_lammps_source.sh --debian, or -DLAMMPS_SOURCE_TARBALL=PATH")
    endif()
    string(REGEX REPLACE ".*\n" "" _lma_tarball "${_lma_fetch_out}")
  else()
    set(_lma_tarball "${LAMMPS_SOURCE_TARBALL}")
  endif()
  if(NOT EXISTS "${_lma_tarball}")
    message(FATAL_ERROR "LAMMPS source tarball not found: ${_lma_tarball}")
  endif()
  file(SHA256 "${_lma_tarball}" _lma_origin_hash)
  set(_lma_origin "tarball:${_lma_origin_hash}")
endif()

set(_lma_key "${_lma_origin}")
foreach(_p IN LISTS _lma_patches)
  file(SHA256 "${_p}" _h)
  get_filename_component(_n "${_p}" NAME)
  string(APPEND _lma_key "\n${_n}:${_h}")
endforeach()

set(LAMMPS_PATCHED_DIR "${CMAKE_BINARY_DIR}/lammps-src")
set(_lma_stamp "${LAMMPS_PATCHED_DIR}/.lammps-mliap-ase-stamp")
set(_lma_old_key "")
if(EXISTS "${_lma_stamp}")
  file(READ "${_lma_stamp}" _lma_old_key)
endif()

if(_lma_old_key STREQUAL _lma_key)
  message(STATUS "LAMMPS source and patches unchanged: reusing ${LAMMPS_PATCHED_DIR}")
else()
  find_program(PATCH_EXECUTABLE patch)
  if(NOT PATCH_EXECUTABLE)
    message(FATAL_ERROR "The 'patch' program is missing: install it (Debian: apt-get install patch)")
  endif()
  set(_tmp "${CMAKE_BINARY_DIR}/lammps-src.tmp")
  file(REMOVE_RECURSE "${_tmp}" "${LAMMPS_PATCHED_DIR}")
  file(MAKE_DIRECTORY "${_tmp}")
  if(LAMMPS_SOURCE_DIR)
    message(STATUS "Copying LAMMPS source from ${LAMMPS_SOURCE_DIR}")
    file(COPY "${LAMMPS_SOURCE_DIR}/" DESTINATION "${_tmp}/tree")
  else()
    message(STATUS "Extracting ${_lma_tarball}")
    file(ARCHIVE_EXTRACT INPUT "${_lma_tarball}" DESTINATION "${_tmp}/tree")
  endif()
  # GitHub tarballs have a top-level folder, Debian's .orig tarball does not.
  file(GLOB_RECURSE _versions LIST_DIRECTORIES false "${_tmp}/tree/*src/version.h")
  set(_root "")
  foreach(_v IN LISTS _versions)
    get_filename_component(_d "${_v}" DIRECTORY)
    get_filename_component(_d "${_d}" DIRECTORY)
    if(EXISTS "${_d}/cmake/CMakeLists.txt")
      set(_root "${_d}")
      break()
    endif()
  endforeach()
  if(NOT _root)
    message(FATAL_ERROR "No LAMMPS tree (src/version.h + cmake/CMakeLists.txt) in the given source")
  endif()
  file(STRINGS "${_root}/src/version.h" _ver REGEX "LAMMPS_VERSION")
  if(NOT _ver MATCHES "${LAMMPS_EXPECTED_VERSION}")
    message(WARNING "Patches target LAMMPS ${LAMMPS_EXPECTED_VERSION}; source says: ${_ver}")
  endif()
  foreach(_p IN LISTS _lma_patches)
    get_filename_component(_n "${_p}" NAME)
    execute_process(
      COMMAND "${PATCH_EXECUTABLE}" -p1 --forward --batch --no-backup-if-mismatch -i "${_p}"
      WORKING_DIRECTORY "${_root}" RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _out)
    if(NOT _rc EQUAL 0)
      message(FATAL_ERROR "Patch ${_n} did not apply cleanly to ${_ver}:\n${_out}")
    endif()
    message(STATUS "Applied ${_n}")
  endforeach()
  file(RENAME "${_root}" "${LAMMPS_PATCHED_DIR}")
  file(REMOVE_RECURSE "${_tmp}")
  file(WRITE "${_lma_stamp}" "${_lma_key}")
endif()
