// Shared by the test files: a scratch folder of this process (removed when it goes out of scope),
// and token ids as one line of text for messages.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

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

/// `ids` separated by single spaces ("5 17 2"), for a test's message.
inline std::string join(const std::vector<int64_t>& ids) {
  std::string s;
  for (auto x : ids) {
    if (!s.empty()) s += ' ';
    s += std::to_string(x);
  }
  return s;
}

}  // namespace ssl_test
