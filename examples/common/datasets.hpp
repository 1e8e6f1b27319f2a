// Shared by the examples (not part of the library, which takes every path as an argument):
// where the demo data sets are by default. Fashion-MNIST: $SSL_FASHION_MNIST when set, else
// Debian's `dataset-fashion-mnist` package; the fortunes: $SSL_FORTUNES when set and non-empty,
// else Debian's `fortunes` package.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>

namespace ex {

/// The directory of the Fashion-MNIST IDX files.
inline std::string fashion_mnist_dir() {
  if (const char* env = std::getenv("SSL_FASHION_MNIST")) return env;
  return "/usr/share/datasets/fashion-mnist";
}

/// The directory of the fortune files.
inline std::filesystem::path fortunes_dir() {
  const char* env = std::getenv("SSL_FORTUNES");
  if (env != nullptr && *env != '\0') return env;
  return "/usr/share/games/fortunes";
}

}  // namespace ex
