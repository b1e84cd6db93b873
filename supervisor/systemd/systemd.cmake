# The systemd units (bulkheadd.service, bulkheadd.socket). They go to systemd's unit
# directory (pkg-config systemd) when installing to /usr, else to
# lib/systemd/system under the prefix (systemd reads /usr/local/lib/systemd/system
# too), so that an install to another prefix never writes outside it.
# -DBH_SYSTEMD_UNIT_DIR=... chooses.
if(NOT DEFINED BH_SYSTEMD_UNIT_DIR)
  set(unit_dir lib/systemd/system)
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    pkg_get_variable(systemd_unit_dir systemd systemdsystemunitdir)
    if(systemd_unit_dir)
      set(unit_dir ${systemd_unit_dir})
    endif()
  endif()
  set(BH_SYSTEMD_UNIT_DIR ${unit_dir} CACHE STRING "Where the systemd units are installed")
endif()
set(BH_UNIT_CONFIG ${CMAKE_INSTALL_FULL_SYSCONFDIR}/bulkhead/bulkhead.conf)
configure_file(${CMAKE_CURRENT_LIST_DIR}/bulkheadd.service.in
  ${CMAKE_CURRENT_BINARY_DIR}/systemd/bulkheadd.service @ONLY)
configure_file(${CMAKE_CURRENT_LIST_DIR}/bulkheadd.socket
  ${CMAKE_CURRENT_BINARY_DIR}/systemd/bulkheadd.socket COPYONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/systemd/bulkheadd.service
  ${CMAKE_CURRENT_BINARY_DIR}/systemd/bulkheadd.socket
  DESTINATION ${BH_SYSTEMD_UNIT_DIR})
