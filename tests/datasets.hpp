// Where the tests find the real data sets (test-only: the library takes every path as an
// argument): the examples' defaults (examples/common/datasets.hpp) — Fashion-MNIST from
// $SSL_FASHION_MNIST or Debian's `dataset-fashion-mnist`, the fortunes from $SSL_FORTUNES or
// Debian's `fortunes`.
#pragma once
#include "../examples/common/datasets.hpp"

namespace test_data {
using ex::fashion_mnist_dir;
using ex::fortunes_dir;
}  // namespace test_data
