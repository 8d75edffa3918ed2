# The worker daemon: its link to the master and gpulse-worker.
# (Included from worker/CMakeLists.txt, after the task runner library.)
add_library(gpulse_worker_agent STATIC ${CMAKE_CURRENT_LIST_DIR}/worker_agent.cc)
target_link_libraries(gpulse_worker_agent PUBLIC gpulse_worker_core gpulse_wire gpulse_common spdlog::spdlog)

add_executable(gpulse-worker ${CMAKE_CURRENT_LIST_DIR}/main.cc)
target_link_libraries(gpulse-worker PRIVATE gpulse_worker_agent gpulse_telemetry gpulse_worker_metrics CLI11::CLI11)
