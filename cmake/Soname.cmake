# bh_soname(VAR PREFIX): the soname of the library a pkg-config module found by
# pkg_check_modules(PREFIX ...) links (the full path CMake resolved for its first -l),
# so that the daemon can dlopen() exactly the major version it was built against
# (supervisor/daemon/dynlib.h).
function(bh_soname var prefix)
  list(GET ${prefix}_LINK_LIBRARIES 0 bh_soname_lib)
  if(CMAKE_OBJDUMP)
    set(bh_soname_cmd ${CMAKE_OBJDUMP} -p)
  else()
    set(bh_soname_cmd ${CMAKE_READELF} -d)
  endif()
  execute_process(COMMAND ${bh_soname_cmd} ${bh_soname_lib} OUTPUT_VARIABLE dump
    RESULT_VARIABLE rc ERROR_QUIET)
  # objdump -p: "SONAME  libx.so.1"; readelf -d: "(SONAME) Library soname: [libx.so.1]"
  if(rc EQUAL 0 AND dump MATCHES "SONAME[) \t]+(Library soname: \\[)?([^] \t\r\n]+)")
    set(${var} ${CMAKE_MATCH_2} PARENT_SCOPE)
  else()
    message(FATAL_ERROR "no soname in ${bh_soname_lib} (${bh_soname_cmd})")
  endif()
endfunction()
