# The master's dashboard, /metrics and history (docs/dashboard.md).
# Included from master/CMakeLists.txt, after the core library.
set(_dir ${CMAKE_CURRENT_LIST_DIR})

# Prometheus text format and the per-sample series: shared by the master and
# by gpulse-worker's own --metrics-listen endpoint, so no master core here.
add_library(gpulse_metrics STATIC ${_dir}/prometheus_writer.cc ${_dir}/sample_metrics.cc)
target_link_libraries(gpulse_metrics PUBLIC gpulse_common)

# Per-worker rings of recent figures for the charts.
add_library(gpulse_history STATIC ${_dir}/history.cc)
target_link_libraries(gpulse_history PUBLIC gpulse_common nlohmann_json::nlohmann_json Threads::Threads)

gpulse_add_test(NAME dashboard_unit_test
  SOURCES ${_dir}/history_test.cc ${_dir}/prometheus_writer_test.cc ${_dir}/sample_metrics_test.cc
  LIBS gpulse_history gpulse_metrics)

# The cluster's /metrics page.
add_library(gpulse_cluster_metrics STATIC ${_dir}/metrics.cc)
target_link_libraries(gpulse_cluster_metrics PUBLIC gpulse_metrics gpulse_master_core)
gpulse_add_test(NAME cluster_metrics_test SOURCES ${_dir}/metrics_test.cc LIBS gpulse_cluster_metrics)

# Benchmark of the heartbeat hot path (History::Record).
if(GPULSE_BUILD_BENCHMARKS)
  add_executable(history_bench ${_dir}/history_bench.cc)
  target_link_libraries(history_bench PRIVATE gpulse_history benchmark::benchmark benchmark::benchmark_main)
endif()
