// Data-parallel training on c10d: 2 Gloo processes on loopback give the same losses
// and the same parameters after k steps as 1 process with the same global batch and seed, for
// every method whose loss couples samples, and for MAE and BERT. The parent test spawns two
// copies of this executable running the (skipped by default) "dist worker" case.
#include "datasets.hpp"

#include <doctest/doctest.h>

#include <ssl/barlow_twins.hpp>
#include <ssl/bert.hpp>
#include <ssl/byol.hpp>
#include <ssl/dino.hpp>
#include <ssl/dist/c10d.hpp>
#include <ssl/dist/launch.hpp>
#include <ssl/data/idx.hpp>
#include <ssl/eval/classifier.hpp>
#include <ssl/mae.hpp>
#include <ssl/mocov3.hpp>
#include <ssl/resnet/encoder.hpp>
#include <ssl/simclr.hpp>
#include <ssl/vicreg.hpp>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

extern char** environ;

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_dist {

namespace {
namespace fs = std::filesystem;

constexpr int64_t kGlobalBatch = 16;
constexpr int64_t kSteps = 3;
constexpr int64_t kWorld = 2;

// simclr_resnet: a ResNet backbone, whose BatchNorm layers the trainer synchronises at setup
// (nn::convert_sync_batch_norm); the workers also run it with per-process statistics
// (simclr_resnet_local), which must differ from one process.
const std::vector<std::string> kScenarios = {"simclr", "simclr_resnet", "mocov3", "barlow_twins", "vicreg", "byol", "dino", "mae", "bert"};

ssl::vit::Encoder tiny_vit() {
  return ssl::vit::Encoder(ssl::vit::Options{}.image(28).patch(7).channels(1).dim(16).depth(1).heads(2).learned_pos(true));
}

// Real images (the first 64 of Fashion-MNIST's training set): random noise images give a tiny
// ViT nearly identical embeddings, whose batch statistics (BatchNorm, Barlow Twins'
// standardisation) then amplify float rounding far beyond what real data sees.
torch::Tensor images() {
  static const auto x = ssl::data::normalize(0.2860, 0.3530)(ssl::data::fashion_mnist("train", test_data::fashion_mnist_dir()).images.narrow(0, 0, 64));
  return x;
}

// Token ids with random lengths: the number of masked tokens differs between processes.
constexpr int64_t V = 60, PAD = 0, UNK = 1, CLS = 2, SEP = 3, MASK = 4, LEN = 16;
torch::Tensor token_ids() {
  torch::manual_seed(8);
  auto ids = torch::randint(5, V, {64, LEN}, torch::kInt64);
  auto len = torch::randint(6, LEN + 1, {64}, torch::kInt64);
  for (int64_t i = 0; i < 64; ++i) {
    const auto n = len[i].item<int64_t>();
    ids[i][0] = CLS;
    ids[i][n - 1] = SEP;
    if (n < LEN) ids[i].narrow(0, n, LEN - n).fill_(PAD);
  }
  return ids;
}

/// Losses of kSteps steps, then every parameter and buffer (teacher, centre, BN statistics).
struct Result {
  torch::Tensor losses, state;
  std::vector<std::pair<std::string, int64_t>> names;  // name and size of each part of `state`
  double moved = 0;  // largest change of a parameter over the steps
  /// Name of the part of `state` holding flat index `i`.
  [[nodiscard]] std::string name_at(int64_t i) const {
    for (const auto& [n, k] : names) {
      if (i < k) return n;
      i -= k;
    }
    return "?";
  }
};

// The optimizer of the comparison: LARS (the joint-embedding papers' optimizer) for the image
// methods, AdamW for BERT. Not AdamW everywhere: its first steps divide every gradient entry by
// its own magnitude, so an entry whose exact gradient is 0 (a bias that a following BatchNorm or
// softmax cancels) turns float rounding noise into a step of size lr, and two correct runs differ
// there by ~lr. LARS leaves such entries (biases, norms) to plain momentum SGD.
ssl::optim::Lars lars(auto& r) { return ssl::optim::Lars(r->named_parameters().pairs(), {.lr = 0.005, .weight_decay = 1e-4}); }

template <class R>
Result steps(R r, const torch::Tensor& inputs, int64_t batch, const ssl::FitOptions& extra = {}) {
  ssl::data::Loader loader(inputs, {}, nullptr, {.batch_size = batch, .seed = 3, .prefetch = 0});
  auto trainer = [&] {
    if constexpr (std::is_same_v<R, ssl::bert::Recipe>)
      return ssl::Trainer(r, ssl::optim::AdamWOptions{.lr = 1e-3, .weight_decay = 0.05}, ssl::schedule::Constant{});
    else
      return ssl::Trainer(r, lars(r), ssl::schedule::Constant{});
  }();
  std::vector<double> losses;
  std::vector<torch::Tensor> initial;
  for (const auto& p : r->parameters()) initial.push_back(p.detach().clone());
  for (int64_t s = 1; s <= kSteps; ++s) {
    auto o = extra;
    o.epochs = 1;
    o.max_steps = s;
    o.progress = 0;
    o.bucket_mib = 0.004;  // ~4 KB buckets: several per step, started during backward
    losses.push_back(trainer.fit(loader, o));
  }
  std::vector<torch::Tensor> flat;
  Result res;
  for (const auto& p : r->named_parameters()) {
    flat.push_back(p.value().detach().reshape({-1}).to(torch::kFloat64));
    res.names.emplace_back(p.key(), p.value().numel());
  }
  for (const auto& b : r->named_buffers())
    if (b.value().is_floating_point()) {
      flat.push_back(b.value().detach().reshape({-1}).to(torch::kFloat64));
      res.names.emplace_back(b.key(), b.value().numel());
    }
  for (size_t i = 0; i < initial.size(); ++i)
    res.moved = std::max(res.moved, (r->parameters()[i] - initial[i]).abs().max().template item<double>());
  res.losses = torch::tensor(losses, torch::kFloat64);
  res.state = torch::cat(flat);
  return res;
}

/// One scenario with `batch` samples per process (the global batch is `batch * world size`).
Result run(const std::string& name, int64_t batch, const ssl::FitOptions& extra = {}) {
  using namespace ssl;
  const auto x = images();
  torch::manual_seed(11);
  if (name == "simclr") return steps(simclr::recipe(tiny_vit(), {.augment = augment::TwoViews::simclr(28, 1), .hidden = 32, .out = 16}), x, batch, extra);
  if (name == "simclr_resnet")
    return steps(simclr::recipe(resnet::Encoder(resnet::resnet18().channels(1).width(4).small_stem(true)),
                                {.augment = augment::TwoViews::simclr(28, 1), .hidden = 32, .out = 16}),
                 x, batch, extra);
  if (name == "mocov3") return steps(mocov3::recipe(tiny_vit(), {.augment = augment::TwoViews::mocov3(28, 1), .hidden = 32, .out = 16, .temperature = 0.2}), x, batch, extra);
  if (name == "barlow_twins") return steps(barlow_twins::recipe(tiny_vit(), {.augment = augment::TwoViews::barlow_twins(28, 1), .hidden = 32, .out = 32}), x, batch, extra);
  if (name == "vicreg") return steps(vicreg::recipe(tiny_vit(), {.augment = augment::TwoViews::vicreg(28, 1), .hidden = 32, .out = 32}), x, batch, extra);
  if (name == "byol") return steps(byol::recipe(tiny_vit(), {.augment = augment::TwoViews::byol(28, 1), .hidden = 32, .out = 16}), x, batch, extra);
  if (name == "dino") {
    dino::Options o;
    o.augment = augment::MultiCrop::dino({.global_size = 28, .local_size = 14, .n_local = 2, .channels = 1});
    o.head = heads::DINOHeadOptions().hidden_dim(32).bottleneck_dim(8).output_dim(64).freeze_last_layer(1);
    return steps(dino::recipe(tiny_vit(), o), x, batch, extra);
  }
  if (name == "mae") {
    mae::Options o;
    o.encoder = vit::Options{}.image(28).patch(7).channels(1).dim(16).depth(1).heads(2);
    o.decoder_dim = 16;
    o.decoder_depth = 1;
    o.decoder_heads = 2;
    return steps(mae::recipe(o), x, batch, extra);
  }
  if (name == "bert") {
    auto enc = text::EncoderOptions(V, 16, 1, 2).mlp_hidden(32).max_len(LEN).dropout(0).attn_dropout(0).pad_id(PAD).sep_id(SEP);
    auto r = bert::recipe({.encoder = enc, .masking = {.vocab_size = V, .mask_id = MASK, .special_ids = {PAD, UNK, CLS, SEP, MASK}}});
    return steps(r, token_ids(), batch, extra);
  }
  FAIL("unknown scenario ", name);
  return {};
}

using ssl::dist::free_port;

/// Starts `world` copies of this executable running the worker case with `task`, with torchrun's
/// environment (`torchrun_env`) or without it (one process that launches the others itself);
/// returns their exit codes.
std::vector<int> spawn_workers(const std::string& task, const fs::path& out, int64_t world, bool torchrun_env = true) {
  const int port = free_port();
  std::vector<pid_t> pids;
  for (int64_t r = 0; r < world; ++r) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    for (auto kv : {std::string("SSL_DIST_TIMEOUT=60"), "SSL_DIST_TASK=" + task, "SSL_DIST_OUT=" + out.string()})
      env.push_back(kv);
    if (torchrun_env)
      for (auto kv : {"RANK=" + std::to_string(r), "LOCAL_RANK=" + std::to_string(r), "WORLD_SIZE=" + std::to_string(world),
                      std::string("MASTER_ADDR=127.0.0.1"), "MASTER_PORT=" + std::to_string(port)})
        env.push_back(kv);
    std::vector<char*> envp;
    for (auto& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string exe = fs::read_symlink("/proc/self/exe").string(), a1 = "--no-skip", a2 = "-tc=dist worker";
    std::vector<char*> argv{exe.data(), a1.data(), a2.data(), nullptr};
    pid_t pid = 0;
    REQUIRE(posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), envp.data()) == 0);
    pids.push_back(pid);
  }
  std::vector<int> codes;
  for (auto pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
  return codes;
}

fs::path out_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("ssl_dist_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

/// A world of `size` in this process, without communication: for the loader's sharding.
struct FakeWorld : ssl::dist::Backend {
  int64_t size, me;
  FakeWorld(int64_t s, int64_t r) : size(s), me(r) {}
  [[nodiscard]] int64_t world_size() const override { return size; }
  [[nodiscard]] int64_t rank() const override { return me; }
  torch::Tensor all_gather(const torch::Tensor&) override { FAIL("no communication here"); return {}; }
  torch::Tensor all_reduce_sum(const torch::Tensor&) override { FAIL("no communication here"); return {}; }
};
}  // namespace

TEST_SUITE("dist") {
TEST_CASE("this build has c10d's Gloo (and NCCL where LibTorch has CUDA)") {
  CHECK(SSL_HAS_GLOO == 1);  // else every multi-process run is an error
#if defined(USE_C10D_NCCL)
  CHECK(SSL_HAS_NCCL == 1);  // the NCCL path of dist/c10d.hpp compiles in the CUDA-enabled build
#endif
  MESSAGE("SSL_HAS_GLOO=", SSL_HAS_GLOO, " SSL_HAS_NCCL=", SSL_HAS_NCCL);
}

// Runs inside the spawned processes only (skipped otherwise; the parent passes --no-skip).
TEST_CASE("dist worker" * doctest::skip()) {
  at::set_num_threads(1);
  const char* task_env = std::getenv("SSL_DIST_TASK");
  REQUIRE(task_env != nullptr);
  const std::string task = task_env;
  const fs::path out = std::getenv("SSL_DIST_OUT");
  if (task == "launch") {  // started without torchrun's environment: launches its peer itself
    std::string exe = fs::read_symlink("/proc/self/exe").string(), a1 = "--no-skip", a2 = "-tc=dist worker";
    std::vector<char*> argv{exe.data(), a1.data(), a2.data(), nullptr};
    ssl::dist::LocalLaunch launch(2, argv.data());
    ssl::dist::Session s;  // from the environment the launch set
    const auto r = std::to_string(ssl::dist::rank());
    const double sum = ssl::dist::all_reduce_sum(torch::full({1}, double(ssl::dist::rank() + 1))).item<double>();
    std::ofstream(out / ("launch_" + r + ".txt")) << launch.world_size() << " " << ssl::dist::world_size() << " " << sum
                                                   << " " << ::getpid() << " " << ::getppid() << "\n";
    const int code = launch.wait();
    if (ssl::dist::rank() == 0) std::ofstream(out / "launch_wait.txt") << code << "\n";
    return;
  }
  auto opts = ssl::dist::from_env();
  if (task == "peer_dies") {
    ssl::dist::Session s(opts);
    if (opts.rank == 1) std::_Exit(0);  // a peer that vanishes without a word
    std::string msg;
    try {
      for (int i = 0; i < 100; ++i) {
        (void)ssl::dist::all_reduce_sum(torch::ones({4}));
        ::usleep(20000);
      }
    } catch (const std::exception& e) {
      msg = e.what();
    }
    std::ofstream(out / "error.txt") << msg;
    return;
  }
  ssl::dist::Session s(opts);
  CHECK(ssl::dist::world_size() == opts.world_size);
  const auto r = std::to_string(opts.rank);
  for (const auto& name : kScenarios) {
    ssl::FitOptions extra;
    if (name == "simclr") {
      extra.metrics_path = (out / ("metrics_" + r + ".jsonl")).string();
      extra.log_every = 1;
      extra.checkpoint_path = (out / ("ckpt_" + r + ".pt")).string();
    }
    auto res = run(name, kGlobalBatch / opts.world_size, extra);
    torch::save(std::vector<torch::Tensor>{res.losses, res.state}, (out / (name + "_" + r + ".pt")).string());
  }
  const auto local = run("simclr_resnet", kGlobalBatch / opts.world_size, {.sync_batch_norm = false});
  torch::save(std::vector<torch::Tensor>{local.losses, local.state}, (out / ("simclr_resnet_local_" + r + ".pt")).string());
}

TEST_CASE("2 Gloo processes = 1 process: same losses and parameters after 3 steps (global batch 16)") {
  const auto out = out_dir("parity");
  const auto codes = spawn_workers("parity", out, kWorld);
  for (size_t r = 0; r < codes.size(); ++r) {
    CAPTURE(r);
    REQUIRE(codes[r] == 0);
  }
  // Only process 0 logs and writes checkpoints.
  CHECK(fs::exists(out / "metrics_0.jsonl"));
  CHECK(fs::exists(out / "ckpt_0.pt"));
  CHECK_FALSE(fs::exists(out / "metrics_1.jsonl"));
  CHECK_FALSE(fs::exists(out / "ckpt_1.pt"));
  at::set_num_threads(1);  // as the workers
  for (const auto& name : kScenarios) {
    CAPTURE(name);
    const auto one = run(name, kGlobalBatch);
    // The steps moved the parameters far beyond the tolerance: the comparison is not between two
    // (nearly) unchanged models.
    CHECK(one.moved > 100 * 1e-5);
    for (int64_t r = 0; r < kWorld; ++r) {
      CAPTURE(r);
      std::vector<torch::Tensor> got;
      torch::load(got, (out / (name + "_" + std::to_string(r) + ".pt")).string());
      REQUIRE(got.size() == 2);
      const auto dls = (got[0] - one.losses).abs();
      const double dl = dls.max().item<double>();
      REQUIRE(got[1].sizes() == one.state.sizes());
      const auto diff = (got[1] - one.state).abs();
      const double dp = diff.max().item<double>();
      MESSAGE(name, " rank ", r, ": losses ", one.losses[0].item<double>(), " .. ", one.losses[kSteps - 1].item<double>(),
              ", largest parameter change ", one.moved,
              ", max |loss diff| ", dl, ", max |parameter diff| ", dp, " (", one.name_at(diff.argmax().item<int64_t>()),
              ") over ", one.state.numel(), " values");
      CHECK(dl <= 1e-5 * std::max(1.0, one.losses.abs().max().item<double>()));
      CHECK(dp <= 1e-5);
    }
  }
  // Without synchronised BatchNorm the ResNet's statistics are each process's 8 samples': far
  // from one process's 16 (so the check above sees the synchronisation).
  {
    const auto one = run("simclr_resnet", kGlobalBatch);
    std::vector<torch::Tensor> got;
    torch::load(got, (out / "simclr_resnet_local_0.pt").string());
    REQUIRE(got.size() == 2);
    const double dl = (got[0] - one.losses).abs().max().item<double>();
    MESSAGE("simclr_resnet with per-process BatchNorm: max |loss diff| ", dl);
    CHECK(dl > 1e-3);
  }
  at::set_num_threads(2);
  fs::remove_all(out);
}

TEST_CASE("LocalLaunch: one process started without torchrun becomes rank 0 of 2 and starts rank 1") {
  const auto out = out_dir("launch");
  const auto codes = spawn_workers("launch", out, 1, /*torchrun_env=*/false);
  REQUIRE(codes.size() == 1);
  CHECK(codes[0] == 0);
  std::vector<std::array<double, 5>> seen(2);
  for (int r = 0; r < 2; ++r) {
    CAPTURE(r);
    std::ifstream f(out / ("launch_" + std::to_string(r) + ".txt"));
    REQUIRE(f.good());
    for (auto& v : seen[r]) f >> v;
    CHECK(seen[r][0] == 2);  // the launch's world
    CHECK(seen[r][1] == 2);  // the process group's
    CHECK(seen[r][2] == 3);  // 1 + 2: both ranks took part in the all-reduce
  }
  CHECK(seen[1][4] == seen[0][3]);  // rank 1 is rank 0's child
  std::ifstream w(out / "launch_wait.txt");
  int code = -1;
  w >> code;
  CHECK(code == 0);  // rank 0 saw rank 1 end well
  fs::remove_all(out);
}

TEST_CASE("a peer that dies ends the run with an error naming the rank and the timeout") {
  const auto out = out_dir("dies");
  const auto codes = spawn_workers("peer_dies", out, kWorld);
  CHECK(codes[0] == 0);
  std::ifstream f(out / "error.txt");
  std::string msg((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  CHECK(msg.find("ssl::dist") != std::string::npos);
  CHECK(msg.find("rank 0 of 2") != std::string::npos);
  MESSAGE("rank 0 saw: ", msg.substr(0, 300));
  fs::remove_all(out);
}

TEST_CASE("a peer that never joins: a clear error after the timeout") {
  auto o = ssl::dist::InitOptions{.rank = 0, .world_size = 2, .master_port = free_port(),
                                  .timeout = std::chrono::milliseconds(1500)};
  CHECK_THROWS_WITH_AS(ssl::dist::Session{o}, doctest::Contains("could not meet its peers at 127.0.0.1:"), c10::Error);
  o.rank = 1;  // the server (rank 0) is absent
  CHECK_THROWS_WITH_AS(ssl::dist::Session{o}, doctest::Contains("rank 1 of 2"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::dist::Session(ssl::dist::InitOptions{.rank = 2, .world_size = 2}),
                       doctest::Contains("0 <= rank < world_size"), c10::Error);
  CHECK_THROWS_WITH_AS((void)ssl::dist::parse("2"), doctest::Contains("RANK/WORLD_SIZE"), c10::Error);
  const auto p = ssl::dist::parse("1/4@10.0.0.2:29611");
  CHECK(p.rank == 1);
  CHECK(p.world_size == 4);
  CHECK(p.master_addr == "10.0.0.2");
  CHECK(p.master_port == 29611);
}

TEST_CASE("sharded loader: disjoint shards that together are one process's global batch, reshuffled per epoch") {
  const auto x = torch::arange(40).view({40, 1});
  ssl::data::Loader one(x, {}, nullptr, {.batch_size = 8, .seed = 5, .prefetch = 0});
  std::vector<std::vector<torch::Tensor>> shards(2);
  for (int64_t r = 0; r < 2; ++r) {
    ssl::dist::set_backend(std::make_shared<FakeWorld>(2, r));
    ssl::data::Loader l(x, {}, nullptr, {.batch_size = 4, .seed = 5, .prefetch = 1});
    CHECK(l.batches_per_epoch() == 5);
    CHECK(l.global_batch_size() == 8);
    for (int64_t e = 0; e < 2; ++e) l.run(e, 0, [&](const ssl::Batch& b, int64_t) { shards[r].push_back(b.input); return true; });
    {
      ssl::dist::LocalOnly local;  // rank-0-only work sees a world of one
      CHECK(l.batches_per_epoch() == 10);
    }
    ssl::data::Loader odd(x, {}, nullptr, {.batch_size = 4, .drop_last = false});
    CHECK_THROWS_WITH_AS((void)odd.batches_per_epoch(), doctest::Contains("needs drop_last"), c10::Error);
  }
  ssl::dist::set_backend(nullptr);
  int64_t i = 0;
  for (int64_t e = 0; e < 2; ++e)
    one.run(e, 0, [&](const ssl::Batch& b, int64_t) {
      CHECK(torch::equal(b.input, torch::cat({shards[0][i], shards[1][i]})));
      ++i;
      return true;
    });
  CHECK(i == 10);
  CHECK(!torch::equal(torch::cat({shards[0][0], shards[1][0]}), torch::cat({shards[0][5], shards[1][5]})));
}

TEST_CASE("gradient accumulation: 2 x 8 samples = one step of 16 (a per-sample mean loss)") {
  auto make = [] {
    torch::manual_seed(12);
    return ssl::eval::Classifier(tiny_vit(), 10, 0.02);
  };
  const auto x = images();
  torch::manual_seed(13);
  const auto y = torch::randint(0, 10, {64}, torch::kInt64);
  auto train = [&](auto clf, int64_t batch, int64_t acc) {
    ssl::data::Loader loader(x, y, nullptr, {.batch_size = batch, .seed = 3, .prefetch = 0});
    ssl::Trainer t(clf, lars(clf), ssl::schedule::Constant{});
    const double loss = t.fit(loader, {.epochs = 1, .max_steps = 3, .accumulate = acc, .progress = 0});
    CHECK(t.step() == 3);
    std::vector<torch::Tensor> flat;
    for (const auto& p : clf->parameters()) flat.push_back(p.detach().reshape({-1}));
    return std::pair{loss, torch::cat(flat)};
  };
  const auto [l16, p16] = train(make(), 16, 1);
  const auto [l8, p8] = train(make(), 8, 2);
  CHECK(l8 == doctest::Approx(l16).epsilon(1e-6));
  MESSAGE("accumulation: max param diff ", (p8 - p16).abs().max().item<double>(), " loss ", l8, " vs ", l16);
  CHECK((p8 - p16).abs().max().item<double>() <= 1e-6);
  const auto [l1, p1] = train(make(), 8, 1);  // not the same as 3 steps of 8
  CHECK((p1 - p16).abs().max().item<double>() > 1e-4);
}
}

}  // namespace test_dist
