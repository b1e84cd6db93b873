# What `cmake --install` puts beside the programs and the library: the CMake package
# (find_package(bulkhead), targets bulkhead::client and bulkhead::plugin), the man
# pages, the CLI's bash completion and the sample configuration.
include(CMakePackageConfigHelpers)

set(BH_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/bulkhead)
install(EXPORT bulkheadTargets NAMESPACE bulkhead:: DESTINATION ${BH_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/bulkheadConfig.cmake.in
  ${CMAKE_BINARY_DIR}/bulkheadConfig.cmake
  INSTALL_DESTINATION ${BH_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR)
# 0.x: a minor version may break compatibility.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/bulkheadConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/bulkheadConfig.cmake
  ${CMAKE_BINARY_DIR}/bulkheadConfigVersion.cmake DESTINATION ${BH_CMAKE_DIR})

# Man pages: the sources carry @PATH@ placeholders for the installed paths.
foreach(page bulkheadd.8 bulkhead.1 bulkhead.conf.5)
  configure_file(${PROJECT_SOURCE_DIR}/doc/${page}.in ${CMAKE_BINARY_DIR}/man/${page} @ONLY)
  string(REGEX MATCH "[0-9]$" section ${page})
  install(FILES ${CMAKE_BINARY_DIR}/man/${page}
    DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()

install(FILES ${PROJECT_SOURCE_DIR}/doc/bulkhead.bash-completion
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME bulkhead)
install(FILES ${PROJECT_SOURCE_DIR}/examples/bulkhead.conf
  DESTINATION ${CMAKE_INSTALL_DOCDIR})
