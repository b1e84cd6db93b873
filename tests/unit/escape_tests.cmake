# test_escape: bh_escape, the escaping of peer text for logs and terminals
# (proto/escape.c).
add_executable(test_escape ${CMAKE_CURRENT_LIST_DIR}/test_escape.c)
target_link_libraries(test_escape PRIVATE bh_proto PkgConfig::CHECK)
bh_target_defaults(test_escape)
add_test(NAME escape COMMAND test_escape)
