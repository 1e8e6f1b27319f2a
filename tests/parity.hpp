// Helpers of the parity suites (test_parity.cpp, test_text_models.cpp): references from
// $SSL_REFS (written by the Python fixtures), and closeness relative to each tensor's scale.
#pragma once
#include <doctest/doctest.h>
#include <ssl/io/safetensors.hpp>
#include <torch/torch.h>

#include <cstdlib>
#include <map>
#include <string>

namespace parity {
using Dict = std::map<std::string, torch::Tensor>;

inline std::string refs() {
  const char* d = std::getenv("SSL_REFS");
  REQUIRE_MESSAGE(d != nullptr, "SSL_REFS is not set: run the parity suites through ctest");
  return d;
}
inline Dict load(const std::string& name) { return ssl::io::load_safetensors(refs() + "/" + name); }

/// The tensor `key` of the reference file `name` (each file loaded once); a missing key fails
/// the test case by name.
inline torch::Tensor expected_in(const std::string& name, const std::string& key) {
  static std::map<std::string, Dict> files;
  auto f = files.find(name);
  if (f == files.end()) f = files.emplace(name, load(name)).first;
  auto it = f->second.find(key);
  REQUIRE_MESSAGE(it != f->second.end(), "no reference tensor ", key, " in ", name);
  return it->second;
}

/// max |a - b| <= tol * max|b| + floor: the error relative to the tensor's own scale (gradients
/// here range from 1e-6 to 1e2), with a floor far below any float32 signal (lower it for float64).
inline void check_close(const torch::Tensor& a, const torch::Tensor& b, const std::string& what, double tol = 1e-5,
                        double floor = 1e-8) {
  REQUIRE_MESSAGE(a.sizes() == b.sizes(), what, ": shape ", a.sizes(), " vs reference ", b.sizes());
  const double err = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
  const double scale = b.abs().max().item<double>();
  if (std::getenv("SSL_PARITY_VERBOSE")) MESSAGE(what, ": max abs error ", err, ", max |ref| ", scale);
  CHECK_MESSAGE(err <= tol * scale + floor, what, ": max abs error ", err, " > ", tol * scale + floor);
}

/// Every parameter of `m` has a gradient close to `expected[name]`; at least `min_count` compared.
inline void check_grads(torch::nn::Module& m, const Dict& expected, size_t min_count = 10) {
  size_t n = 0;
  for (const auto& p : m.named_parameters()) {
    auto it = expected.find(p.key());
    REQUIRE_MESSAGE(it != expected.end(), "no reference gradient for ", p.key());
    REQUIRE_MESSAGE(p.value().grad().defined(), "no gradient for ", p.key());
    check_close(p.value().grad(), it->second, "grad " + p.key());
    ++n;
  }
  CHECK(n > min_count);
}
}  // namespace parity
