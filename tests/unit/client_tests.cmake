# libbulkhead-client against a fake daemon (a thread in the test).
# The test links only the shared client library: it also exercises that the proto
# functions the fake server uses are exported from it.
if(NOT TARGET PkgConfig::CHECK)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(CHECK REQUIRED IMPORTED_TARGET check)
endif()
find_package(Threads REQUIRED)

add_executable(test_client ${CMAKE_CURRENT_LIST_DIR}/test_client.c)
target_link_libraries(test_client PRIVATE bulkhead-client PkgConfig::CHECK Threads::Threads)
bh_target_defaults(test_client)
add_test(NAME client COMMAND test_client)
set_tests_properties(client PROPERTIES TIMEOUT 120)

# The CLI's cases run the real `bulkhead` binary against the same fake daemon.
if(TARGET bulkhead)
  target_compile_definitions(test_client PRIVATE
    BH_CLI_PATH="$<TARGET_FILE:bulkhead>"
    BH_PROJECT_VERSION="${PROJECT_VERSION}")
  add_dependencies(test_client bulkhead)
endif()
