# Bulk references, memfd checks and fds received with a stream (proto/bulk.c).
add_executable(test_bulk test_bulk.c)
target_link_libraries(test_bulk PRIVATE bh_proto PkgConfig::CHECK)
bh_target_defaults(test_bulk)
add_test(NAME bulk COMMAND test_bulk)
