#pragma once
/// \file train/checkpoint.hpp
/// Atomic checkpoint files and the random-number state they carry.
#include <fcntl.h>
#include <unistd.h>

#include <torch/torch.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

namespace ssl::train {

/// Writes an archive to `path` atomically: a temporary file beside it, flushed to disk, then
/// renamed over `path`. A crash leaves either the old or the new checkpoint, never half of one.
inline void atomic_save(const std::string& path,
                        const std::function<void(torch::serialize::OutputArchive&)>& fill) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  static std::atomic<int> counter{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  try {
    torch::serialize::OutputArchive ar;
    fill(ar);
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      TORCH_CHECK(out.good(), "checkpoint: cannot write '", tmp, "'");
      ar.save_to(out);
      out.flush();
      TORCH_CHECK(out.good(), "checkpoint: writing '", tmp, "' failed (disk full?)");
    }
    const int fd = ::open(tmp.c_str(), O_RDONLY);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
    fs::rename(tmp, target);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

/// Reads an archive, with an error that names the file.
inline void load_archive(const std::string& path, torch::serialize::InputArchive& ar) {
  TORCH_CHECK(std::filesystem::exists(path), "checkpoint: file not found: '", path, "'");
  try {
    ar.load_from(path);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "checkpoint: '", path, "' is not a readable checkpoint: ", e.what());
  }
}

/// Saves / restores the default generators (CPU and every CUDA device).
inline void save_rng(torch::serialize::OutputArchive& ar) {
  auto cpu = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lk(cpu.mutex());
    ar.write("rng.cpu", cpu.get_state());
  }
  const auto n = torch::cuda::is_available() ? torch::cuda::device_count() : 0;
  for (size_t i = 0; i < n; ++i) {
    auto g = at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(i)));
    std::lock_guard<std::mutex> lk(g.mutex());
    ar.write("rng.cuda." + std::to_string(i), g.get_state());
  }
}
/// Restores the generators `save_rng` wrote.
inline void load_rng(torch::serialize::InputArchive& ar) {
  torch::Tensor state;
  ar.read("rng.cpu", state);
  auto cpu = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lk(cpu.mutex());
    cpu.set_state(state);
  }
  const auto n = torch::cuda::is_available() ? torch::cuda::device_count() : 0;
  for (size_t i = 0; i < n; ++i) {
    torch::Tensor s;
    if (!ar.try_read("rng.cuda." + std::to_string(i), s)) continue;
    auto g = at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(i)));
    std::lock_guard<std::mutex> lk(g.mutex());
    g.set_state(s);
  }
}

/// Seeds every default generator (CPU and CUDA).
inline void seed_everything(uint64_t seed) { torch::manual_seed(seed); }

}  // namespace ssl::train
