# gpulse_add_test(foo_test.cc LIBS lib ... [DEPENDS target ...] [TIMEOUT s] [LABELS l ...])
# Builds one GoogleTest binary from one test file, named after the file
# (foo_test), and registers each of its tests with CTest. Tests run with the
# build's bin/ and lib/ folders known (GPULSE_TEST_BIN_DIR, GPULSE_TEST_LIB_DIR)
# so they can start the real binaries and load the NVML simulator; DEPENDS
# names the programs and libraries a test starts or loads, so they are built
# first (targets that this build does not have are ignored).
function(gpulse_add_test source)
  if(NOT GPULSE_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(T "" "TIMEOUT" "LIBS;LABELS;DEPENDS" ${ARGN})
  get_filename_component(name ${source} NAME_WE)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${name} ${source})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main Threads::Threads)
  # The test file itself is built without optimisation in every build type:
  # the code under test keeps the build's flags, and an unoptimised test
  # file compiles in about half the time (GoogleTest's macros are heavy).
  target_compile_options(${name} PRIVATE -O0)
  target_compile_definitions(${name} PRIVATE
    GPULSE_TEST_BIN_DIR="${CMAKE_RUNTIME_OUTPUT_DIRECTORY}"
    GPULSE_TEST_LIB_DIR="${CMAKE_LIBRARY_OUTPUT_DIRECTORY}"
    GPULSE_TEST_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  foreach(dependency ${T_DEPENDS})
    if(TARGET ${dependency})
      add_dependencies(${name} ${dependency})
    endif()
  endforeach()
  gtest_discover_tests(${name}
    DISCOVERY_TIMEOUT 60
    PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}")
endfunction()

# gpulse_add_benchmark(NAME name SOURCES a.cc ... LIBS lib ... [DEPENDS target ...])
# A Google Benchmark program in build/bin/ (scripts/run-benchmarks.sh runs them).
function(gpulse_add_benchmark)
  if(NOT GPULSE_BUILD_BENCHMARKS)
    return()
  endif()
  cmake_parse_arguments(B "" "NAME" "SOURCES;LIBS;DEPENDS" ${ARGN})
  add_executable(${B_NAME} ${B_SOURCES})
  target_link_libraries(${B_NAME} PRIVATE ${B_LIBS} benchmark::benchmark Threads::Threads)
  foreach(dependency ${B_DEPENDS})
    if(TARGET ${dependency})
      add_dependencies(${B_NAME} ${dependency})
    endif()
  endforeach()
endfunction()

# gpulse_add_fuzzer(NAME name SOURCES a.cc ... LIBS lib ... CORPUS dir [RUNS n] [SECONDS s])
# A libFuzzer program (LLVMFuzzerTestOneInput) in build/fuzz/, built only
# when the compiler is clang (configure with CC=clang CXX=clang++); other
# compilers skip it. It runs under AddressSanitizer and UBSan. CTest runs it
# (label "fuzz") for RUNS inputs (default 20000) or SECONDS seconds (default
# 8), whichever ends first, grown from the seed corpus CORPUS, which is kept
# in the repo and never written: new inputs go to build/fuzz/<name>-corpus/,
# a crashing input to build/fuzz/crash-* (leak-*, timeout-*, oom-*); any
# crash, leak, sanitizer report, input slower than 10 s or over 2 GiB fails
# the test. LIBS should be built with -fsanitize=fuzzer-no-link (an
# instrumented copy of the library: gpulse_add_fuzzing_copy, or as
# pki/CMakeLists.txt makes one) so libFuzzer sees their coverage.
function(gpulse_add_fuzzer)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang" OR NOT GPULSE_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(F "" "NAME;CORPUS;RUNS;SECONDS" "SOURCES;LIBS" ${ARGN})
  if(NOT F_RUNS)
    set(F_RUNS 20000)
  endif()
  if(NOT F_SECONDS)
    set(F_SECONDS 8)
  endif()
  add_executable(${F_NAME} ${F_SOURCES})
  target_compile_options(${F_NAME} PRIVATE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
  target_link_options(${F_NAME} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(${F_NAME} PRIVATE ${F_LIBS})
  set_target_properties(${F_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
  set(grown ${CMAKE_BINARY_DIR}/fuzz/${F_NAME}-corpus)
  file(MAKE_DIRECTORY ${grown})
  add_test(NAME ${F_NAME} COMMAND ${F_NAME} -runs=${F_RUNS} -max_total_time=${F_SECONDS} -max_len=8192 -timeout=10 -rss_limit_mb=2048
    -artifact_prefix=${CMAKE_BINARY_DIR}/fuzz/ ${grown} ${F_CORPUS})
  set_tests_properties(${F_NAME} PROPERTIES LABELS fuzz TIMEOUT 300)
endfunction()

# gpulse_add_fuzzing_copy(library)
# Makes <library>_fuzzing: a static library of the same sources, built with
# -fsanitize=fuzzer-no-link (coverage for libFuzzer) besides ASan and UBSan,
# linked to what <library> links. Fuzzers link the copy so libFuzzer sees
# the coverage of the code under test, while the normal targets stay as
# they are. Clang only, like gpulse_add_fuzzer; call it once per library,
# after the library is defined (from any folder).
function(gpulse_add_fuzzing_copy library)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang" OR NOT GPULSE_BUILD_TESTS OR TARGET ${library}_fuzzing)
    return()
  endif()
  get_target_property(sources ${library} SOURCES)
  get_target_property(source_dir ${library} SOURCE_DIR)
  get_target_property(libraries ${library} LINK_LIBRARIES)
  set(absolute_sources)
  foreach(source ${sources})
    if(IS_ABSOLUTE ${source})
      list(APPEND absolute_sources ${source})
    else()
      list(APPEND absolute_sources ${source_dir}/${source})
    endif()
  endforeach()
  add_library(${library}_fuzzing STATIC ${absolute_sources})
  target_compile_options(${library}_fuzzing PRIVATE
    -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined)
  if(libraries)
    target_link_libraries(${library}_fuzzing PUBLIC ${libraries})
  endif()
endfunction()
