#pragma once
/// \file dist/c10d.hpp
/// Data-parallel runs on PyTorch's own engine: a c10d process group (Gloo for CPU tensors, NCCL
/// for CUDA tensors) installed as the `dist::Backend` that the losses, the trainer and the loader
/// already go through. One process per device; start them with `torchrun --nproc_per_node=N`
/// (or `torchrun --no-python`), with the environment set by hand, or with an example's `--dist`
/// flag:
///
///     auto opts = ssl::dist::from_env();      // RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
///     ssl::dist::Session session(opts);       // joins the group (no-op for a world of one)
///     ... ssl::Trainer(...).fit(loader, ...)  // gradients all-reduced, loader sharded
///
/// A peer that never joins, or dies, ends the run with an error naming the rank, the address and
/// the timeout (`InitOptions::timeout`, environment `SSL_DIST_TIMEOUT` in seconds).
///
/// Needs a LibTorch built with c10d (every PyPI wheel) and Gloo's headers (Debian's
/// `libgloo-dev`; LibTorch's wheel does not ship them): `SSL_HAS_GLOO` is 1 then. NCCL also
/// needs `nccl.h` (the `nvidia-nccl` wheel) and a CUDA LibTorch: `SSL_HAS_NCCL`.
#include <ssl/core/check.hpp>
#include <ssl/dist/collective.hpp>

#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#if defined(USE_C10D_GLOO) && __has_include(<gloo/algorithm.h>) && \
    __has_include(<torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>)
/// 1 when LibTorch was built with Gloo and its headers (libgloo-dev) are found: multi-process runs on CPU.
#define SSL_HAS_GLOO 1
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#else
/// 1 when LibTorch was built with Gloo and its headers (libgloo-dev) are found: multi-process runs on CPU.
#define SSL_HAS_GLOO 0
#endif
#if SSL_HAS_GLOO && defined(USE_C10D_NCCL) && __has_include(<nccl.h>) && \
    __has_include(<torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>)
/// 1 when Gloo is there and LibTorch was built with NCCL, whose header is found: multi-process runs on CUDA.
#define SSL_HAS_NCCL 1
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#else
/// 1 when Gloo is there and LibTorch was built with NCCL, whose header is found: multi-process runs on CUDA.
#define SSL_HAS_NCCL 0
#endif

namespace ssl::dist {

/// Where this process sits in the run and where the peers meet.
/// Example: `InitOptions{.rank = 1, .world_size = 2, .master_port = 29512}`.
struct InitOptions {
  int64_t rank = 0;  ///< this process, in [0, world_size)
  int64_t world_size = 1;  ///< processes in the run
  int64_t local_rank = 0;  ///< device index on this machine (CUDA)
  std::string master_addr = "127.0.0.1";  ///< address of rank 0's TCP store
  int64_t master_port = 29500;  ///< port of rank 0's TCP store
  /// "gloo", "nccl", or "auto": NCCL when `device` is CUDA, else Gloo.
  std::string backend = "auto";
  /// Device of this process's batches (`cuda:local_rank` for a CUDA run).
  torch::Device device = torch::kCPU;
  /// How long to wait for a peer to join or to answer a collective.
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};
  /// torchrun's agent already serves the store at MASTER_ADDR:MASTER_PORT (rank 0 joins it as a
  /// client); read from TORCHELASTIC_USE_AGENT_STORE.
  bool agent_store = false;
  /// Key prefix in the store (torchrun restarts get fresh keys).
  std::string store_prefix = "ssl";
};

namespace detail {
inline int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 10);
  TORCH_CHECK(end != v && *end == '\0', "ssl::dist: environment variable ", name, " must be an integer, got '", v, "'");
  return x;
}
inline std::string env_str(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return (v == nullptr || *v == '\0') ? fallback : std::string(v);
}
}  // namespace detail

/// torchrun's environment: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (absent: a
/// world of one), TORCHELASTIC_USE_AGENT_STORE, TORCHELASTIC_RESTART_COUNT; SSL_DIST_TIMEOUT
/// (seconds) and SSL_DIST_BACKEND override the defaults.
[[nodiscard]] inline InitOptions from_env() {
  InitOptions o;
  o.world_size = detail::env_int("WORLD_SIZE", 1);
  o.rank = detail::env_int("RANK", 0);
  o.local_rank = detail::env_int("LOCAL_RANK", o.rank);
  o.master_addr = detail::env_str("MASTER_ADDR", o.master_addr);
  o.master_port = detail::env_int("MASTER_PORT", o.master_port);
  o.timeout = std::chrono::seconds(detail::env_int("SSL_DIST_TIMEOUT", 300));
  o.backend = detail::env_str("SSL_DIST_BACKEND", o.backend);
  o.agent_store = detail::env_str("TORCHELASTIC_USE_AGENT_STORE", "") == "True";
  o.store_prefix = "ssl/attempt_" + detail::env_str("TORCHELASTIC_RESTART_COUNT", "0");
  return o;
}

/// Parses an example's `--dist RANK/WORLD_SIZE[@ADDR[:PORT]]` (e.g. `1/2@127.0.0.1:29512`) over
/// `base` (whose other fields stay). Empty: `base` unchanged.
[[nodiscard]] inline InitOptions parse(const std::string& spec, InitOptions base = from_env()) {
  if (spec.empty()) return base;
  const auto slash = spec.find('/');
  const auto at = spec.find('@');
  TORCH_CHECK(slash != std::string::npos && slash > 0 && (at == std::string::npos || at > slash + 1),
              "ssl::dist: expected --dist RANK/WORLD_SIZE[@ADDR[:PORT]] (e.g. 0/2@127.0.0.1:29500), got '", spec, "'");
  try {
    base.rank = std::stoll(spec.substr(0, slash));
    base.world_size = std::stoll(spec.substr(slash + 1, at == std::string::npos ? std::string::npos : at - slash - 1));
    base.local_rank = base.rank;
    if (at != std::string::npos) {
      const auto rest = spec.substr(at + 1);
      const auto colon = rest.rfind(':');
      base.master_addr = rest.substr(0, colon);
      if (colon != std::string::npos) base.master_port = std::stoll(rest.substr(colon + 1));
    }
  } catch (const std::logic_error&) {
    TORCH_CHECK(false, "ssl::dist: expected --dist RANK/WORLD_SIZE[@ADDR[:PORT]] with integers, got '", spec, "'");
  }
  return base;
}

#if SSL_HAS_GLOO
/// `Backend` over a c10d process group.
class C10dBackend : public Backend {
 public:
  C10dBackend(c10::intrusive_ptr<c10d::Backend> pg, const InitOptions& o, torch::Device comm_device)
      : pg_(std::move(pg)), rank_(o.rank), world_(o.world_size), timeout_(o.timeout), device_(comm_device) {}

  [[nodiscard]] int64_t world_size() const override { return world_; }
  [[nodiscard]] int64_t rank() const override { return rank_; }

  Tensor all_gather(const Tensor& t) override {
    auto in = to_comm(t);
    std::vector<std::vector<Tensor>> out(1);
    for (int64_t r = 0; r < world_; ++r) out[0].push_back(torch::empty_like(in));
    std::vector<Tensor> inputs{in};
    wait(pg_->allgather(out, inputs), "all_gather");
    return torch::cat(out[0]).to(t.device());
  }
  Tensor all_reduce_sum(const Tensor& t) override {
    std::vector<Tensor> v{to_comm(t).clone()};
    wait(pg_->allreduce(v), "all_reduce");
    return v[0].to(t.device());
  }
  std::unique_ptr<Pending> all_reduce_sum_async(Tensor& t) override {
    TORCH_CHECK(t.device() == device_ && t.is_contiguous(), "ssl::dist: all_reduce_sum_async expects a contiguous ",
                "tensor on ", device_, ", got ", t.device());
    std::vector<Tensor> v{t};
    struct InFlight : Pending {
      C10dBackend* self;
      c10::intrusive_ptr<c10d::Work> work;
      void wait() override { self->wait(work, "gradient all_reduce"); }
    };
    auto p = std::make_unique<InFlight>();
    p->self = this;
    p->work = pg_->allreduce(v);
    return p;
  }
  void broadcast(Tensor& t, int64_t root) override {
    std::vector<Tensor> v{to_comm(t).contiguous()};
    c10d::BroadcastOptions bo;
    bo.rootRank = root;
    wait(pg_->broadcast(v, bo), "broadcast");
    if (!v[0].is_same(t)) t.copy_(v[0]);
  }
  void barrier() override { (void)all_reduce_sum(torch::zeros({1}, device_)); }

  /// The device collectives run on (CPU for Gloo, the local GPU for NCCL).
  [[nodiscard]] torch::Device device() const { return device_; }
  [[nodiscard]] const c10::intrusive_ptr<c10d::Backend>& process_group() const { return pg_; }

  void wait(const c10::intrusive_ptr<c10d::Work>& w, const char* what) const {
    try {
      w->wait(timeout_);
    } catch (const std::exception& e) {
      TORCH_CHECK(false, "ssl::dist: ", what, " on rank ", rank_, " of ", world_,
                  " failed: a peer died or did not answer within ", timeout_.count() / 1000.0,
                  " s (InitOptions::timeout / SSL_DIST_TIMEOUT). Cause: ", ssl::detail::cause(e));
    }
  }

 private:
  Tensor to_comm(const Tensor& t) const { return t.device() == device_ ? t.contiguous() : t.to(device_).contiguous(); }

  c10::intrusive_ptr<c10d::Backend> pg_;
  int64_t rank_, world_;
  std::chrono::milliseconds timeout_;
  torch::Device device_;
};
#endif

/// Joins the process group described by `o` and installs it as the `dist::Backend`; leaving the
/// scope uninstalls it. A world of one installs nothing (every collective is the identity).
class Session {
 public:
  /// Joins the run `o` describes (by default torchrun's environment, `from_env()`).
  explicit Session(const InitOptions& o = from_env()) : options_(o) {
    TORCH_CHECK(o.world_size >= 1 && o.rank >= 0 && o.rank < o.world_size, "ssl::dist: expected 0 <= rank < ",
                "world_size, got rank ", o.rank, " of ", o.world_size);
    if (o.world_size == 1) return;
#if SSL_HAS_GLOO
    const bool cuda = o.device.is_cuda();
    std::string backend = o.backend == "auto" ? (cuda ? "nccl" : "gloo") : o.backend;
    TORCH_CHECK(backend == "gloo" || backend == "nccl", "ssl::dist: unknown backend '", o.backend,
                "' (expected gloo, nccl or auto)");
    TORCH_CHECK(backend == "gloo" || cuda, "ssl::dist: NCCL needs a CUDA device, the run's device is ", o.device);
    const auto where = o.master_addr + ":" + std::to_string(o.master_port);
    c10::intrusive_ptr<c10d::Store> store;
    try {
      c10d::TCPStoreOptions so;
      so.port = static_cast<uint16_t>(o.master_port);
      so.isServer = o.rank == 0 && !o.agent_store;
      if (!o.agent_store) {  // every process counts itself in; the server waits for all of them
        so.numWorkers = static_cast<int>(o.world_size);
        so.waitWorkers = true;
      } else {
        so.waitWorkers = false;
      }
      so.timeout = o.timeout;
      store = c10::make_intrusive<c10d::PrefixStore>(o.store_prefix,
                                                     c10::make_intrusive<c10d::TCPStore>(o.master_addr, so));
    } catch (const std::exception& e) {
      TORCH_CHECK(false, "ssl::dist: rank ", o.rank, " of ", o.world_size, " could not meet its peers at ", where,
                  " within ", o.timeout.count() / 1000.0, " s: is every one of the ", o.world_size,
                  " processes started with the same MASTER_ADDR / MASTER_PORT? Cause: ", ssl::detail::cause(e));
    }
#if !SSL_HAS_NCCL
    TORCH_CHECK(backend == "gloo", "ssl::dist: this build has no NCCL (a CUDA LibTorch and nccl.h are needed); use gloo");
#endif
    c10::intrusive_ptr<c10d::Backend> pg;
    torch::Device comm = torch::kCPU;
    try {
      if (backend == "gloo") {
        auto go = c10d::ProcessGroupGloo::Options::create();
        go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(
            o.master_addr == "localhost" ? std::string("127.0.0.1") : o.master_addr));
        go->timeout = o.timeout;
        pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, static_cast<int>(o.rank),
                                                         static_cast<int>(o.world_size), go);
      } else {
#if SSL_HAS_NCCL
        c10::cuda::set_device(static_cast<c10::DeviceIndex>(o.device.has_index() ? o.device.index() : o.local_rank));
        auto no = c10d::ProcessGroupNCCL::Options::create();
        no->timeout = o.timeout;
        pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, static_cast<int>(o.rank),
                                                         static_cast<int>(o.world_size), no);
        comm = o.device;
#endif
      }
    } catch (const std::exception& e) {
      TORCH_CHECK(false, "ssl::dist: rank ", o.rank, " of ", o.world_size, " could not connect its ", backend,
                  " process group via ", where, " within ", o.timeout.count() / 1000.0, " s. Cause: ", ssl::detail::cause(e));
    }
    backend_ = std::make_shared<C10dBackend>(pg, o, comm);
    set_backend(backend_);
#else
    TORCH_CHECK(false, "ssl::dist: this build has no c10d process groups (a LibTorch with USE_C10D_GLOO and Gloo's ",
                "headers, Debian's libgloo-dev, are needed); asked for rank ", o.rank, " of ", o.world_size);
#endif
  }
  ~Session() {
    if (backend_) set_backend(nullptr);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// The options it joined with.
  [[nodiscard]] const InitOptions& options() const { return options_; }
  /// More than one process.
  [[nodiscard]] bool distributed() const { return options_.world_size > 1; }

 private:
  InitOptions options_;
#if SSL_HAS_GLOO
  std::shared_ptr<C10dBackend> backend_;
#else
  std::shared_ptr<Backend> backend_;
#endif
};

}  // namespace ssl::dist
