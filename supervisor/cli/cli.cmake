# The `bulkhead` command-line tool; include()d from supervisor/CMakeLists.txt.
# It links the shared client library like any other client would (the proto
# functions it uses, bh_write_* and the codec, are exported from it).
add_executable(bulkhead
  ${CMAKE_CURRENT_LIST_DIR}/main.c
  ${CMAKE_CURRENT_LIST_DIR}/events.c
  ${CMAKE_CURRENT_LIST_DIR}/json.c
  ${CMAKE_CURRENT_LIST_DIR}/status.c
  ${CMAKE_CURRENT_LIST_DIR}/health.c)
bh_target_defaults(bulkhead)
target_link_libraries(bulkhead PRIVATE bulkhead-client PkgConfig::JANSSON m)
target_compile_definitions(bulkhead PRIVATE BH_VERSION="${PROJECT_VERSION}")
# Installed next to the library in a relocatable prefix; the build tree has its own RPATH.
set_target_properties(bulkhead PROPERTIES
  INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
install(TARGETS bulkhead RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
