# Runs an example and checks how it ended: EXPECT=fail (the default) passes only when the program
# fails with an error exit (not a crash, not a timeout) and its output matches REGEX, so an error
# test cannot pass because the program crashed, succeeded, or failed for another reason;
# EXPECT=pass passes when it exits 0, its output matches REGEX and every file of FILES exists.
#   cmake -DEXE=<program> "-DARGS=--lr;nan" "-DREGEX=..." [-DEXPECT=pass "-DFILES=a;b"] [-DCLEAN=<folder>] -P run_example.cmake
# CLEAN: folders removed before the run (the example's --out; a list: "-DCLEAN=a;b").
if(DEFINED CLEAN)  # output folders of an earlier run: their files must not pass for this run's
  file(REMOVE_RECURSE ${CLEAN})
endif()
if(NOT DEFINED EXPECT)
  set(EXPECT fail)
endif()
execute_process(COMMAND ${EXE} ${ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 600)
set(all "${out}${err}")
message("${all}")
if(NOT rc MATCHES "^[0-9]+$")
  message(FATAL_ERROR "expected an exit code, got '${rc}' (a crash or a timeout)")
endif()
if(EXPECT STREQUAL "fail" AND rc EQUAL 0)
  message(FATAL_ERROR "expected a failure, the program exited 0")
endif()
if(EXPECT STREQUAL "pass" AND NOT rc EQUAL 0)
  message(FATAL_ERROR "expected exit code 0, got ${rc}")
endif()
if(NOT all MATCHES "${REGEX}")
  message(FATAL_ERROR "expected the output to match '${REGEX}'")
endif()
foreach(f IN LISTS FILES)
  if(NOT EXISTS "${f}")
    message(FATAL_ERROR "expected the file '${f}'")
  endif()
endforeach()
