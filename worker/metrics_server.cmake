# gpulse-worker --metrics-listen: the worker's own Prometheus endpoint.
# Included from worker/CMakeLists.txt; gpulse_metrics comes from master/.
add_library(gpulse_worker_metrics STATIC ${CMAKE_CURRENT_LIST_DIR}/metrics_server.cc)
target_link_libraries(gpulse_worker_metrics PUBLIC gpulse_metrics gpulse_http Threads::Threads)
gpulse_add_test(NAME worker_metrics_server_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/metrics_server_test.cc
  LIBS gpulse_worker_metrics)
