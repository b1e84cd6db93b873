# The answer ring between a shim and the daemon (proto/ring.c).
find_package(Threads REQUIRED)
add_executable(test_ring test_ring.c)
target_link_libraries(test_ring PRIVATE bh_proto PkgConfig::CHECK Threads::Threads)
bh_target_defaults(test_ring)
add_test(NAME ring COMMAND test_ring)
