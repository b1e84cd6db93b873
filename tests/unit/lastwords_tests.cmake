# test_lastwords: picking a dying plugin's last words from its stderr
# (supervisor/daemon/lastwords.c).
add_executable(test_lastwords ${CMAKE_CURRENT_LIST_DIR}/test_lastwords.c
  ${PROJECT_SOURCE_DIR}/supervisor/daemon/lastwords.c)
target_include_directories(test_lastwords PRIVATE ${PROJECT_SOURCE_DIR}/supervisor/daemon)
target_link_libraries(test_lastwords PRIVATE bh_proto PkgConfig::CHECK)
bh_target_defaults(test_lastwords)
add_test(NAME lastwords COMMAND test_lastwords)
