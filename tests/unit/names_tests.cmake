# test_names: the daemon's name -> slot map (supervisor/daemon/names.c).
add_executable(test_names ${CMAKE_CURRENT_LIST_DIR}/test_names.c
  ${PROJECT_SOURCE_DIR}/supervisor/daemon/names.c)
target_include_directories(test_names PRIVATE ${PROJECT_SOURCE_DIR}/supervisor/daemon)
target_link_libraries(test_names PRIVATE PkgConfig::CHECK)
bh_target_defaults(test_names)
add_test(NAME names COMMAND test_names)
