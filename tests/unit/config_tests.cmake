# test_config: the daemon's config file parser (supervisor/daemon/config*.c).
# Needs the bh_config target (supervisor/daemon/config.cmake, included before tests/).
if(NOT TARGET bh_config)
  message(WARNING "test_config not built: no bh_config target "
    "(include supervisor/daemon/config.cmake from supervisor/CMakeLists.txt)")
  return()
endif()
if(NOT TARGET PkgConfig::CHECK)
  pkg_check_modules(CHECK REQUIRED IMPORTED_TARGET check)
endif()
add_executable(test_config ${CMAKE_CURRENT_LIST_DIR}/test_config.c)
target_link_libraries(test_config PRIVATE bh_config bh_proto PkgConfig::CHECK)
# The shipped example must stay loadable: the suite parses it.
target_compile_definitions(test_config PRIVATE
  BH_EXAMPLE_CONF="${CMAKE_CURRENT_LIST_DIR}/../../examples/bulkhead.conf")
bh_target_defaults(test_config)
add_test(NAME config COMMAND test_config)
