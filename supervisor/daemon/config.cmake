# bh_config: the daemon's config file parser (libconfig syntax -> struct bh_config).
# Included from supervisor/CMakeLists.txt; paths are relative to this file so that it
# can be included from anywhere.
add_library(bh_config STATIC
  ${CMAKE_CURRENT_LIST_DIR}/config.c
  ${CMAKE_CURRENT_LIST_DIR}/config_acl.c
  ${CMAKE_CURRENT_LIST_DIR}/config_env.c
  ${CMAKE_CURRENT_LIST_DIR}/config_read.c
  ${CMAKE_CURRENT_LIST_DIR}/config_metrics.c
  ${CMAKE_CURRENT_LIST_DIR}/config_heal.c)
target_include_directories(bh_config
  PUBLIC ${CMAKE_CURRENT_LIST_DIR}
  # bulkhead/client.h, for BH_DEFAULT_SOCKET only (header, no library).
  PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../../plugin-sdk/include)
target_link_libraries(bh_config PUBLIC bh_proto PRIVATE PkgConfig::LIBCONFIG PkgConfig::SECCOMP)
bh_target_defaults(bh_config)
