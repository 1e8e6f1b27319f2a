// Shared by the examples (not part of the library): data-parallel runs. Every example accepts
// `--dist RANK/WORLD_SIZE[@ADDR[:PORT]]` and otherwise reads torchrun's environment, so
//
//   torchrun --standalone --nproc_per_node=2 --no-python ./build/examples/00_mae_fashion_mnist --threads 1
//
// trains on two processes (Gloo on CPU; NCCL for CUDA); `--batch` is per process. Process 0
// evaluates and writes the pictures and metrics.json alone; the others end after training.
// `--procs N` does the same without torchrun: the example starts N-1 copies of itself
// (ssl/dist/launch.hpp).
#pragma once
#include <CLI/CLI.hpp>
#include <ssl/dist/c10d.hpp>
#include <ssl/dist/launch.hpp>

#include "checks.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

namespace ex {
inline void add_dist_option(CLI::App& app, std::string& spec) {
  app.add_option("--dist", spec,
                 "data-parallel: RANK/WORLD_SIZE[@ADDR[:PORT]] (default: torchrun's RANK, WORLD_SIZE, MASTER_ADDR, "
                 "MASTER_PORT; unset: one process)")
      ->capture_default_str();
}

inline void add_procs_option(CLI::App& app, int64_t& procs, const std::string& default_text) {
  app.add_option("--procs", procs,
                 "data-parallel on this machine without torchrun: start this many processes (" + default_text +
                     "; ignored with --dist or under torchrun)")
      ->capture_default_str()
      ->check(at_least(1));
}

/// `--procs`: the copies of this example that make a run of `procs` processes (none with `--dist`).
struct Launch : ssl::dist::LocalLaunch {
  Launch(int64_t procs, const std::string& dist_spec, char** argv)
      : ssl::dist::LocalLaunch(dist_spec.empty() ? procs : 1, argv) {}
};

/// The batch of this process: `--batch` as given (per process), else the example's default
/// `global` batch split over the run's processes.
inline int64_t batch_per_process(int64_t given, int64_t global, const std::string& what) {
  const int64_t world = ssl::dist::world_size();
  TORCH_CHECK(given > 0 || global % world == 0, "the default batch of ", what, " (", global, ") does not split over ",
              world, " processes: pass --batch (per process)");
  return given > 0 ? given : global / world;
}

/// `--threads` is the total: each process of the run trains on its share (at least one).
inline void set_training_threads(int total) {
  at::set_num_threads(static_cast<int>(std::max<int64_t>(1, total / ssl::dist::world_size())));
}

/// `--device cpu|cuda`: where the example trains and encodes (its evaluation's k-NN and linear
/// probe stay on the CPU).
inline void add_device_option(CLI::App& app, std::string& device) {
  app.add_option("--device", device,
                 "cpu | cuda: where the model trains (cuda: the GPU of this process's LOCAL_RANK; one process per GPU)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
}

/// The device `--device` names for the process that `spec` (or torchrun's environment) makes:
/// `cuda:LOCAL_RANK` for a CUDA run, checked against the GPUs this process sees.
inline torch::Device training_device(const std::string& device, const std::string& spec) {
  if (device == "cpu") return torch::kCPU;
  TORCH_CHECK(device == "cuda", "--device: expected cpu or cuda, got '", device, "'");
  const auto local = ssl::dist::parse(spec).local_rank;
  const auto gpus = static_cast<int64_t>(torch::cuda::device_count());
  TORCH_CHECK(local < gpus, "--device cuda: this process (local rank ", local, ") needs GPU ", local, ", but ", gpus,
              " CUDA device(s) are visible", gpus == 0 ? " (a CPU-only LibTorch, or no GPU)" : " (one process per GPU: lower --procs)");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local));
}

/// Joins the run `spec` (or torchrun's environment) describes; a world of one joins nothing.
inline std::unique_ptr<ssl::dist::Session> join(const std::string& spec, torch::Device device = torch::kCPU) {
  auto o = ssl::dist::parse(spec);
  o.device = device.is_cuda() ? torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(o.local_rank)) : device;
  auto s = std::make_unique<ssl::dist::Session>(o);
  if (s->distributed())
    std::printf("data-parallel: rank %lld of %lld (%s)\n", (long long)o.rank, (long long)o.world_size,
                device.is_cuda() ? "NCCL" : "Gloo");
  return s;
}
}  // namespace ex
