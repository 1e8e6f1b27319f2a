# Builds tests/consumer twice: against `cmake --install` of libssl, and via add_subdirectory.
# Variables: SSL_SOURCE, WORK, GENERATOR, TORCH_DIR (LibTorch's TorchConfig.cmake folder, given to
# the consumer as a user gives it: the consumer does not rely on a python3 with torch on PATH).
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()
file(REMOVE_RECURSE ${WORK})
set(src ${SSL_SOURCE}/tests/consumer)
# A Release build at -O1: the consumer checks the package and the link, not speed, and -O1
# compiles its two copies of app.cpp about a third faster than -O3 (CI time, issue 21).
set(release_flags "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -DNDEBUG")
set(launcher)
find_program(CCACHE ccache)
if(CCACHE)
  set(launcher -DCMAKE_CXX_COMPILER_LAUNCHER=${CCACHE})
endif()
# 1. install libssl (with its images and audio components) into a prefix, then
#    find_package(ssl COMPONENTS images audio)
run(${CMAKE_COMMAND} -S ${SSL_SOURCE} -B ${WORK}/lib -G ${GENERATOR} -DTorch_DIR=${TORCH_DIR} -DSSL_BUILD_EXAMPLES=OFF
    -DSSL_BUILD_TESTS=OFF -DSSL_BUILD_BENCHMARKS=OFF -DSSL_WITH_IMAGES=ON -DSSL_WITH_AUDIO=ON
    -DCMAKE_INSTALL_PREFIX=${WORK}/prefix)
run(${CMAKE_COMMAND} --install ${WORK}/lib)
run(${CMAKE_COMMAND} -S ${src} -B ${WORK}/installed -G ${GENERATOR} -DCMAKE_PREFIX_PATH=${WORK}/prefix
    -DTorch_DIR=${TORCH_DIR} -DCMAKE_BUILD_TYPE=Release ${release_flags} ${launcher})
run(${CMAKE_COMMAND} --build ${WORK}/installed -j2)
run(${WORK}/installed/app)
# 2. add_subdirectory(libssl) without the image and audio libraries (SSL_WITH_IMAGES=OFF,
#    SSL_WITH_AUDIO=OFF): the rest builds
run(${CMAKE_COMMAND} -S ${src} -B ${WORK}/subdir -G ${GENERATOR} -DSSL_VIA_SUBDIRECTORY=ON -DSSL_IMAGES=OFF -DSSL_AUDIO=OFF
    -DSSL_SOURCE=${SSL_SOURCE} -DTorch_DIR=${TORCH_DIR} -DCMAKE_BUILD_TYPE=Release ${release_flags} ${launcher})
run(${CMAKE_COMMAND} --build ${WORK}/subdir -j2)
run(${WORK}/subdir/app)
