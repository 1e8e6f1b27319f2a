# Builds tests/consumer twice: against `cmake --install` of libssl, and via add_subdirectory.
# Variables: SSL_SOURCE, WORK, GENERATOR.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()
file(REMOVE_RECURSE ${WORK})
set(src ${SSL_SOURCE}/tests/consumer)
set(launcher)
find_program(CCACHE ccache)
if(CCACHE)
  set(launcher -DCMAKE_CXX_COMPILER_LAUNCHER=${CCACHE})
endif()
# 1. install libssl into a prefix, then find_package(ssl) from it
run(${CMAKE_COMMAND} -S ${SSL_SOURCE} -B ${WORK}/lib -G ${GENERATOR} -DSSL_BUILD_EXAMPLES=OFF
    -DSSL_BUILD_TESTS=OFF -DSSL_BUILD_BENCHMARKS=OFF -DCMAKE_INSTALL_PREFIX=${WORK}/prefix)
run(${CMAKE_COMMAND} --install ${WORK}/lib)
run(${CMAKE_COMMAND} -S ${src} -B ${WORK}/installed -G ${GENERATOR} -DCMAKE_PREFIX_PATH=${WORK}/prefix
    -DCMAKE_BUILD_TYPE=Release ${launcher})
run(${CMAKE_COMMAND} --build ${WORK}/installed -j2)
run(${WORK}/installed/app)
# 2. add_subdirectory(libssl)
run(${CMAKE_COMMAND} -S ${src} -B ${WORK}/subdir -G ${GENERATOR} -DSSL_VIA_SUBDIRECTORY=ON
    -DSSL_SOURCE=${SSL_SOURCE} -DCMAKE_BUILD_TYPE=Release ${launcher})
run(${CMAKE_COMMAND} --build ${WORK}/subdir -j2)
run(${WORK}/subdir/app)
