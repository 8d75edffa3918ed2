# gpulse_add_test(NAME name SOURCES a_test.cc ... LIBS lib ... [LABELS l ...])
# Builds one GoogleTest binary and registers each of its tests with CTest.
# Tests run with the build's bin/ and lib/ folders in their environment so
# they can start the real binaries and load the NVML simulator.
function(gpulse_add_test)
  if(NOT GPULSE_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main Threads::Threads)
  target_compile_definitions(${T_NAME} PRIVATE
    GPULSE_TEST_BIN_DIR="${CMAKE_RUNTIME_OUTPUT_DIRECTORY}"
    GPULSE_TEST_LIB_DIR="${CMAKE_LIBRARY_OUTPUT_DIRECTORY}"
    GPULSE_TEST_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  set_target_properties(${T_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  gtest_discover_tests(${T_NAME}
    DISCOVERY_TIMEOUT 60
    PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}")
endfunction()
