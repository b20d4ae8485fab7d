# Build time. CI builds everything cold on 2 cores (scripts/test), and most of
# that time goes to compiling GoogleTest's macros and the header-only
# libraries over and over, so scripts/test turns on:
#
# * GROUPSCALER_UNITY_BUILD (below): each target with several sources
#   compiles them as one translation unit per batch of 8 (CMake's
#   UNITY_BUILD), so gtest/gmock, CLI11, nlohmann json and the like are parsed
#   and their inline code generated once per batch rather than once per file.
#   Sources of one such target must not define the same name in their
#   anonymous namespaces (the compiler says so at once); off by default, so
#   that editing one file recompiles only that file.
# * GROUPSCALER_PRECOMPILE_TEST_HEADERS (below): every test executable that
#   uses GoogleTest reuses one precompiled header. With ccache this needs
#   CCACHE_SLOPPINESS=pch_defines,time_macros, which scripts/test sets; off by
#   default, so that a plain ccache build caches every file as before.
#
# Targets whose sources clash in one translation unit build file by file:
# the Kafka adapter, controller_test and policy_test define the same helpers
# (kNs, kT0, ...) in several files, cpprestsdk's headers break fmt's
# std::byte formatting in src/kube, and tests/support merged would need
# OpenSSL on the link line of every test.
#
# Included at the end of the top-level CMakeLists.txt, when every target exists.

option(GROUPSCALER_UNITY_BUILD "Targets with several sources compile them as one" OFF)
option(GROUPSCALER_PRECOMPILE_TEST_HEADERS
       "Test executables share one precompiled header of gtest, gmock and nlohmann json" OFF)

# Every target defined in `dir` and below.
function(groupscaler_targets_below dir out)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(subdir IN LISTS subdirs)
    groupscaler_targets_below(${subdir} below)
    list(APPEND targets ${below})
  endforeach()
  set(${out} ${targets} PARENT_SCOPE)
endfunction()

groupscaler_targets_below(${PROJECT_SOURCE_DIR} groupscaler_targets)

# A single source is left alone: merged, it would be compiled as an included
# file, where GCC warns about members of anonymous-namespace types.
if(GROUPSCALER_UNITY_BUILD)
  set(unity_clashes groupscaler_kafka groupscaler_kube groupscaler_test_support controller_test
                    policy_test)
  foreach(target IN LISTS groupscaler_targets)
    get_target_property(sources ${target} SOURCES)
    list(FILTER sources INCLUDE REGEX "\\.cc$")
    list(LENGTH sources count)
    if(count GREATER 1 AND NOT target IN_LIST unity_clashes)
      set_target_properties(${target} PROPERTIES UNITY_BUILD ON)
    endif()
  endforeach()
endif()

if(GROUPSCALER_PRECOMPILE_TEST_HEADERS)
  # The header is built once, by this otherwise empty target; every target
  # that links GoogleTest compiles with the same flags and reuses it.
  file(CONFIGURE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/test_pch.cc CONTENT "")
  add_library(groupscaler_test_pch OBJECT ${CMAKE_CURRENT_BINARY_DIR}/test_pch.cc)
  target_link_libraries(groupscaler_test_pch PRIVATE GTest::gmock nlohmann_json::nlohmann_json)
  target_precompile_headers(groupscaler_test_pch PRIVATE
    <gmock/gmock.h> <gtest/gtest.h> <nlohmann/json.hpp>
    <algorithm> <chrono> <cstdint> <functional> <map> <memory> <optional> <string>
    <string_view> <thread> <vector>)

  foreach(target IN LISTS groupscaler_targets)
    get_target_property(type ${target} TYPE)
    get_target_property(links ${target} LINK_LIBRARIES)
    if(type STREQUAL "EXECUTABLE" AND links MATCHES "GTest::")
      target_precompile_headers(${target} REUSE_FROM groupscaler_test_pch)
    endif()
  endforeach()
endif()
