# The master daemon: gRPC worker link, HTTP API, logs, and gpulse-master.
# (Included from master/CMakeLists.txt, after the core library.)
add_library(gpulse_master_server STATIC
  ${CMAKE_CURRENT_LIST_DIR}/api_json.cc
  ${CMAKE_CURRENT_LIST_DIR}/http_api.cc
  ${CMAKE_CURRENT_LIST_DIR}/log_store.cc
  ${CMAKE_CURRENT_LIST_DIR}/master_server.cc
  ${CMAKE_CURRENT_LIST_DIR}/worker_link_service.cc)
target_link_libraries(gpulse_master_server PUBLIC
  gpulse_master_core gpulse_wire gpulse_common nlohmann_json::nlohmann_json spdlog::spdlog PkgConfig::HTTPLIB)

add_executable(gpulse-master ${CMAKE_CURRENT_LIST_DIR}/main.cc)
target_link_libraries(gpulse-master PRIVATE gpulse_master_server CLI11::CLI11)
