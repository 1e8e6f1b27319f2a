# Runs an image example on a reduced budget, then reads its <out>/metrics.json and fails unless
# the frozen features' k-NN top-1 (`knn_top1`) is above the raw-pixel k-NN floor the same run
# measured (`raw_pixels_knn_top1`: cosine k-NN, k = 20, on the 60k training images' pixels).
#   cmake -DEXE=<example> -DOUT=<folder> "-DARGS=--method ibot ..." [-DFILES=a;b] -P example_floor.cmake
# FILES: paths under <folder> the run must have written (e.g. hf/config.json).
foreach(v EXE OUT ARGS)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "example_floor.cmake: expected -D${v}=...")
  endif()
endforeach()
separate_arguments(args UNIX_COMMAND "${ARGS}")
file(REMOVE_RECURSE ${OUT})
execute_process(COMMAND ${EXE} ${args} --floors true --out ${OUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${EXE} exited with ${rc}")
endif()
file(READ ${OUT}/metrics.json json)
string(JSON knn GET "${json}" knn_top1)
string(JSON raw GET "${json}" raw_pixels_knn_top1)
string(JSON features GET "${json}" features)
message(STATUS "k-NN top-1 on the frozen '${features}' features: ${knn}; raw pixels: ${raw}")
if(NOT knn GREATER raw)
  message(FATAL_ERROR "k-NN ${knn} is not above the raw-pixel floor ${raw}")
endif()
foreach(f IN LISTS FILES)
  if(NOT EXISTS "${OUT}/${f}")
    message(FATAL_ERROR "expected the run to write '${OUT}/${f}'")
  endif()
endforeach()
