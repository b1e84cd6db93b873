# bh_soname(VAR PREFIX): the soname of the library a pkg-config module found by
# pkg_check_modules(PREFIX ...) links (its first -l), so that the daemon can dlopen()
# exactly the major version it was built against (supervisor/daemon/dynlib.h).
function(bh_soname var prefix)
  list(GET ${prefix}_LIBRARIES 0 name)
  find_library(path NAMES ${name} HINTS ${${prefix}_LIBRARY_DIRS} NO_CACHE REQUIRED)
  execute_process(COMMAND ${CMAKE_OBJDUMP} -p ${path} OUTPUT_VARIABLE dump
    RESULT_VARIABLE rc ERROR_QUIET)
  if(rc EQUAL 0 AND dump MATCHES "SONAME[ \t]+([^ \t\r\n]+)")
    set(${var} ${CMAKE_MATCH_1} PARENT_SCOPE)
  else()
    message(FATAL_ERROR "no soname in ${path} (${CMAKE_OBJDUMP} -p)")
  endif()
endfunction()
