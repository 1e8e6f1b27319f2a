// Shared by the test files: a scratch folder of this process, removed when it goes out of scope.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace ssl_test {

/// `<temp>/<name>_<pid>`, emptied when made and removed at the end of its scope.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& name)
      : path(std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace ssl_test
