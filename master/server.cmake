# The master daemon's serving side. Included from master/CMakeLists.txt after
# the core library and dashboard.cmake.

# The HTTP/JSON API: worker and task objects, submissions, logs.
add_library(gpulse_api STATIC
  ${CMAKE_CURRENT_LIST_DIR}/api_json.cc
  ${CMAKE_CURRENT_LIST_DIR}/http_api.cc
  ${CMAKE_CURRENT_LIST_DIR}/log_store.cc)
target_link_libraries(gpulse_api PUBLIC
  gpulse_master_core gpulse_telemetry gpulse_common nlohmann_json::nlohmann_json PkgConfig::HTTPLIB)

# The dashboard's routes: page, assets, /metrics, live events, history.
add_library(gpulse_dashboard STATIC ${CMAKE_CURRENT_LIST_DIR}/web_routes.cc)
target_link_libraries(gpulse_dashboard PUBLIC
  gpulse_api gpulse_cluster_metrics gpulse_history gpulse_web_assets PkgConfig::HTTPLIB)
gpulse_add_test(NAME web_routes_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/web_routes_test.cc LIBS gpulse_dashboard)

# Everything together: gRPC worker link, HTTP server, control loop.
add_library(gpulse_master_server STATIC
  ${CMAKE_CURRENT_LIST_DIR}/master_server.cc
  ${CMAKE_CURRENT_LIST_DIR}/worker_link_service.cc)
target_link_libraries(gpulse_master_server PUBLIC
  gpulse_api gpulse_dashboard gpulse_history gpulse_wire gpulse_http spdlog::spdlog)

add_executable(gpulse-master ${CMAKE_CURRENT_LIST_DIR}/main.cc)
target_link_libraries(gpulse-master PRIVATE gpulse_master_server CLI11::CLI11)
