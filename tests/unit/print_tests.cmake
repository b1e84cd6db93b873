# bh_value_print (libbulkhead-client), linked against the shared library as a client is.
add_executable(test_print ${CMAKE_CURRENT_LIST_DIR}/test_print.c)
target_link_libraries(test_print PRIVATE bulkhead-client PkgConfig::CHECK)
bh_target_defaults(test_print)
add_test(NAME client_print COMMAND test_print)
