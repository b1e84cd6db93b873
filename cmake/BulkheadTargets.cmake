# Compile options shared by every bulkhead target.
#
# bh_target_defaults(target [NO_SANITIZE])
#   Warnings for all targets; the sanitizers (BH_SANITIZE) for all but NO_SANITIZE
#   ones: plugins and sandbox probes run in processes whose host may not carry the
#   sanitizer runtime, and hostile probes must behave like ordinary binaries.
function(bh_target_defaults target)
  cmake_parse_arguments(ARG "NO_SANITIZE" "" "" ${ARGN})
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow
    $<$<COMPILE_LANGUAGE:C>:-Wstrict-prototypes>
    $<$<COMPILE_LANGUAGE:C>:-Wmissing-prototypes> -fno-strict-aliasing
    # Error and log messages are bounded on purpose; snprintf cutting them is the point.
    $<$<C_COMPILER_ID:GNU>:-Wno-format-truncation>)
  if(BH_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(BH_FUZZ AND NOT ARG_NO_SANITIZE)
    # Coverage for the fuzzer in every library; the fuzz targets add -fsanitize=fuzzer.
    # -O1: several times the executions per second of -O0, with asserts kept.
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link,address,undefined
      -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  elseif(BH_SANITIZE AND NOT ARG_NO_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined
      -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()
