# What `make install` (cmake --install) and `make package` (CPack, a .deb)
# put where. Paths are relative to the install prefix except configuration:
# with the prefix /usr (the Debian package) it goes to /etc/gpulse, else to
# <prefix>/etc/gpulse.
include(GNUInstallDirs)

install(TARGETS gpulse gpulse-master gpulse-worker gpulse-task-supervisor RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The NVML simulator, for machines without a driver (GPULSE_NVML_LIBRARY).
install(TARGETS nvml_sim LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/gpulse NAMELINK_SKIP)
install(FILES
    ${PROJECT_SOURCE_DIR}/packaging/systemd/gpulse-master.service
    ${PROJECT_SOURCE_DIR}/packaging/systemd/gpulse-worker.service
  DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/ARCHITECTURE.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/packaging/etc/master.toml ${PROJECT_SOURCE_DIR}/packaging/etc/worker.toml
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/tools/nvml-sim/scenarios/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/gpulse/nvml-sim-scenarios)
install(CODE "set(GPULSE_PACKAGING_DIR \"${PROJECT_SOURCE_DIR}/packaging\")")
install(CODE [[
  if(CMAKE_INSTALL_PREFIX MATCHES "/usr$")
    set(_gpulse_etc "${CMAKE_INSTALL_PREFIX}/../etc/gpulse")
  else()
    set(_gpulse_etc "${CMAKE_INSTALL_PREFIX}/etc/gpulse")
  endif()
  file(INSTALL DESTINATION "${_gpulse_etc}" TYPE FILE
       FILES "${GPULSE_PACKAGING_DIR}/etc/master.toml" "${GPULSE_PACKAGING_DIR}/etc/worker.toml")
]])

# make package: gpulse_<version>_amd64.deb, its Depends derived from the
# libraries the binaries link (dpkg-shlibdeps).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME gpulse)
set(CPACK_PACKAGE_VENDOR "gpulse")
set(CPACK_PACKAGE_CONTACT "gpulse maintainers <gpulse@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "GPU cluster monitoring and scheduling: master, worker and CLI")
set(CPACK_PACKAGE_DESCRIPTION
  "gpulse watches and runs a fleet of GPU machines. Every machine runs gpulse-worker, which samples CPU, memory and NVIDIA GPUs through NVML and runs tasks; gpulse-master places tasks and serves an HTTP API, a dashboard and Prometheus metrics; gpulse is the command-line client.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles
  ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
  ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
  ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
include(CPack)
