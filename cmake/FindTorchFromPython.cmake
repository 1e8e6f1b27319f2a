# If no LibTorch was given through CMAKE_PREFIX_PATH / Torch_DIR, use the one inside the PyPI
# `torch` wheel of Python3_EXECUTABLE (libssl's own build: the project's .venv), else of the
# python3 on PATH (the wheel ships headers, libraries and TorchConfig.cmake).
if(NOT Torch_DIR AND NOT DEFINED ENV{Torch_DIR})
  find_package(Torch QUIET CONFIG)
  if(NOT Torch_FOUND)
    find_package(Python3 COMPONENTS Interpreter QUIET)
    if(Python3_FOUND)
      execute_process(COMMAND ${Python3_EXECUTABLE} -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
        OUTPUT_VARIABLE _ssl_torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _ssl_rc ERROR_QUIET)
      if(_ssl_rc EQUAL 0 AND _ssl_torch_prefix)
        list(APPEND CMAKE_PREFIX_PATH "${_ssl_torch_prefix}")
        message(STATUS "libssl: using LibTorch from the python torch wheel: ${_ssl_torch_prefix}")
      endif()
    endif()
  endif()
endif()

# ssl_fix_torch_wheel_links(), on LibTorch's `torch` target, so for every executable linking it:
# 1. The PyPI wheel's libtorch_cuda.so finds NCCL, cuDNN, ... through an $ORIGIN RPATH into
#    site-packages/nvidia/*/lib. The loader honours it at run time, but GNU ld may resolve those
#    libraries from the system (an older CUDA toolkit's NCCL) at link time. Point ld at the
#    wheel's copies. A no-op for LibTorch distributions without that folder.
# 2. The wheels' libtorch (2.5 onwards) export their statically linked copy of libstdc++'s
#    std::filesystem (pytorch/pytorch#133437). Where an executable's std::filesystem calls bind
#    to that copy, LibTorch 2.11's std::filesystem::remove_all jumps to address 0. The calls must
#    bind to the program's own C++ library: a shared libstdc++ is needed ahead of libtorch
#    (DT_NEEDED order); a toolchain with only a static libstdc++.a (one seen on a GPU machine)
#    links the whole archive into the executable instead, since an archive named before the
#    objects would give nothing and the symbols would then come from libtorch.
function(ssl_fix_torch_wheel_links)
  if(TARGET torch AND CMAKE_CXX_COMPILER AND CMAKE_SYSTEM_NAME STREQUAL "Linux" AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libstdc++.so
      OUTPUT_VARIABLE _ssl_stdcxx OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(IS_ABSOLUTE "${_ssl_stdcxx}")
      set_property(TARGET torch APPEND PROPERTY INTERFACE_LINK_OPTIONS
        "SHELL:-Wl,--push-state,--no-as-needed -lstdc++ -Wl,--pop-state")
    else()
      message(STATUS "libssl: ${CMAKE_CXX_COMPILER} has no shared libstdc++: linking libstdc++.a whole "
                     "(std::filesystem must not bind to libtorch's copy, pytorch/pytorch#133437)")
      set_property(TARGET torch APPEND PROPERTY INTERFACE_LINK_OPTIONS
        "SHELL:-Wl,--whole-archive -lstdc++ -Wl,--no-whole-archive")
    endif()
  endif()
  if(TARGET torch AND DEFINED TORCH_INSTALL_PREFIX)
    file(GLOB _ssl_nv_dirs LIST_DIRECTORIES true "${TORCH_INSTALL_PREFIX}/../nvidia/*/lib")
    foreach(_d IN LISTS _ssl_nv_dirs)
      get_filename_component(_d "${_d}" REALPATH)
      set_property(TARGET torch APPEND PROPERTY INTERFACE_LINK_OPTIONS "LINKER:-rpath-link,${_d}")
    endforeach()
  endif()
endfunction()
