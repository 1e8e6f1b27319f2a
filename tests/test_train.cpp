// The trainer, the loader and checkpoints: exact resume, data order, clear errors.
#include <doctest/doctest.h>
#include <ssl/ssl.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_train {

namespace fs = std::filesystem;

namespace {
ssl::mae::Options tiny_mae() {
  ssl::mae::Options o;
  o.encoder = ssl::vit::Options{}.image(8).patch(2).channels(1).dim(16).depth(2).heads(2);
  o.decoder_dim = 8;
  o.decoder_depth = 1;
  o.decoder_heads = 2;
  return o;
}
ssl::data::Loader<ssl::data::TensorDataset> tiny_loader(int64_t prefetch) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(123);
  auto images = torch::randint(0, 256, {40, 1, 8, 8}, gen, torch::TensorOptions().dtype(torch::kUInt8));
  return ssl::data::Loader(images, {}, ssl::data::normalize(0.5, 0.25), {.batch_size = 8, .seed = 7, .prefetch = prefetch});
}
using MaeTrainer = ssl::Trainer<ssl::mae::Recipe>;
MaeTrainer make_trainer(uint64_t init_seed) {
  torch::manual_seed(init_seed);
  return MaeTrainer(ssl::mae::recipe(tiny_mae()), ssl::optim::AdamWOptions{.lr = 1e-3},
                    ssl::schedule::cosine_warmup(1.0));
}
fs::path tmpdir() {
  auto d = fs::temp_directory_path() / ("ssl_test_train_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}
}  // namespace

TEST_SUITE("train") {
TEST_CASE("k steps + checkpoint + resume + (N-k) steps == N steps, bit for bit") {
  const auto d = tmpdir();
  auto loader = tiny_loader(/*prefetch=*/2);
  const ssl::FitOptions fit{.epochs = 3, .clip_grad_norm = 1.0, .progress = 0};  // 15 steps over 3 epochs
  // Straight run.
  auto a = make_trainer(1);
  torch::manual_seed(99);
  CHECK(std::isfinite(a.fit(loader, fit)));  // the last epoch's mean loss
  REQUIRE(a.step() == 15);
  // Interrupted at step 7 (mid-epoch), saved, resumed into freshly built objects.
  auto b = make_trainer(1);
  torch::manual_seed(99);
  auto part = fit;
  part.max_steps = 7;
  part.checkpoint_path = (d / "ckpt.pt").string();
  b.fit(loader, part);
  REQUIRE(b.step() == 7);
  torch::manual_seed(12345);  // disturb the global RNG: the checkpoint must restore it
  auto c = make_trainer(2);   // different initial weights: the checkpoint must overwrite them
  c.load((d / "ckpt.pt").string());
  CHECK(c.step() == 7);
  c.fit(loader, fit);
  REQUIRE(c.step() == 15);
  auto pa = a.recipe()->named_parameters(), pc = c.recipe()->named_parameters();
  REQUIRE(pa.size() == pc.size());
  for (const auto& p : pa) CHECK_MESSAGE(torch::equal(p.value(), pc[p.key()]), p.key());
  // A fit of a run already at its end takes no step and has no loss to report: NaN, not 0.
  CHECK(std::isnan(c.fit(loader, fit)));
  CHECK(c.step() == 15);
  // Control: without restoring the RNG and data position the result differs (the test can fail).
  auto e = make_trainer(1);
  torch::manual_seed(5);
  e.fit(loader, fit);
  bool all_equal = true;
  for (const auto& p : e.recipe()->named_parameters()) all_equal &= torch::equal(p.value(), pa[p.key()]);
  CHECK_FALSE(all_equal);
  // No temporary files are left beside the checkpoint.
  for (const auto& f : fs::directory_iterator(d)) CHECK(f.path().filename().string().find(".tmp.") == std::string::npos);
}

TEST_CASE("checkpoints: a changed byte, a truncated file, another model or another run configuration are refused by name") {
  const auto d = tmpdir() / "integrity";
  fs::remove_all(d);
  fs::create_directories(d);
  const auto ckpt = (d / "ckpt.pt").string();
  auto loader = tiny_loader(0);
  auto a = make_trainer(1);
  ssl::FitOptions fit{.epochs = 1, .max_steps = 2, .checkpoint_path = ckpt, .progress = 0};
  fit.config = {{"heads", "2"}};
  a.fit(loader, fit);
  fit.max_steps = 3;
  a.fit(loader, fit);  // a second checkpoint: the first is kept as <ckpt>.prev
  REQUIRE(fs::exists(ssl::train::previous_checkpoint(ckpt)));
  {
    auto b = make_trainer(2);
    b.load(ssl::train::previous_checkpoint(ckpt));
    CHECK(b.step() == 2);
    b.load(ckpt);
    CHECK(b.step() == 3);
  }
  const auto bytes = [&] {
    std::ifstream in(ckpt, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  const auto write = [&](const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; };
  // 64 bytes flipped in the middle of the file (inside the model's tensors).
  auto flipped = bytes;
  for (size_t i = flipped.size() / 2; i < flipped.size() / 2 + 64; ++i) flipped[i] = char(~flipped[i]);
  write(d / "flipped.pt", flipped);
  auto b = make_trainer(2);
  CHECK_THROWS_WITH_AS(b.load((d / "flipped.pt").string()), doctest::Contains("flipped.pt' is damaged"), c10::Error);
  // Cut short.
  write(d / "truncated.pt", bytes.substr(0, bytes.size() / 3));
  CHECK_THROWS_WITH_AS(b.load((d / "truncated.pt").string()),
                       doctest::Contains("truncated.pt' is not a readable checkpoint (truncated"), c10::Error);
  // The message quotes LibTorch's cause by its text alone: none of its C++ backtrace (which its
  // what() adds, frame by frame) lands inside the message.
  try {
    b.load((d / "truncated.pt").string());
    FAIL("a truncated checkpoint loaded");
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    CHECK(msg.find("failed reading zip archive") != std::string::npos);
    CHECK(msg.find("frame #") == std::string::npos);
    CHECK(msg.find("Exception raised from") == std::string::npos);
  }
  // Another model: 3 encoder blocks instead of 2.
  {
    auto o = tiny_mae();
    o.encoder.depth(3);
    MaeTrainer deeper(ssl::mae::recipe(o), ssl::optim::AdamWOptions{.lr = 1e-3}, ssl::schedule::cosine_warmup(1.0));
    CHECK_THROWS_WITH_AS(deeper.load(ckpt), doctest::Contains("holds another model"), c10::Error);
  }
  // Another run: the batch size, or a configuration value (FitOptions::config), differs.
  {
    auto c = make_trainer(2);
    c.load(ckpt);
    auto half = ssl::data::Loader(torch::randint(0, 256, {40, 1, 8, 8}, torch::kUInt8), {}, ssl::data::normalize(0.5, 0.25),
                                  {.batch_size = 4, .seed = 7});
    CHECK_THROWS_WITH_AS(c.fit(half, fit), doctest::Contains("global_batch is 8 in the checkpoint but 4 in this run"),
                         c10::Error);
    auto other = fit;
    other.config = {{"heads", "4"}};
    CHECK_THROWS_WITH_AS(c.fit(loader, other), doctest::Contains("heads is 2 in the checkpoint but 4 in this run"),
                         c10::Error);
    CHECK(c.step() == 3);  // refused before any step
  }
  // A writer killed mid-save leaves a temporary file: the next save removes it.
  // So does a dead process that had this process's pid (pids wrap): its token differs.
  const std::string reused = "ckpt.pt.tmp." + std::to_string(::getpid()) + ".0000000000000000.0";
  write(d / "ckpt.pt.tmp.999999.0", "partial");
  write(d / reused, "partial");
  a.save(ckpt);
  CHECK_FALSE(fs::exists(d / "ckpt.pt.tmp.999999.0"));
  CHECK_FALSE(fs::exists(d / reused));
  fs::remove_all(d);
}

// Crash safety: a training process (the "checkpoint worker" case below, in a child process) that
// checkpoints every step is killed with SIGKILL at random moments, 50 times. After each kill the
// checkpoint on disk must load; the next start resumes from it. Each run that reaches its end
// must equal, bit for bit, the same run never interrupted, and leave no temporary file behind.
constexpr int64_t kKillRunEpochs = 60;  // 300 steps of the tiny MAE
ssl::FitOptions kill_run_fit(const fs::path& dir) {
  return {.epochs = kKillRunEpochs, .checkpoint_path = (dir / "ckpt.pt").string(), .checkpoint_every = 1, .progress = 0};
}

TEST_CASE("checkpoint worker" * doctest::skip(true)) {
  const char* dir_env = std::getenv("SSL_KILL_DIR");
  REQUIRE(dir_env != nullptr);
  const fs::path dir(dir_env);
  at::set_num_threads(1);
  auto loader = tiny_loader(0);
  auto t = make_trainer(1);
  torch::manual_seed(99);
  if (fs::exists(dir / "ckpt.pt")) t.load((dir / "ckpt.pt").string());
  std::ofstream(dir / "started").put('1');  // the parent kills at a random moment after this
  t.fit(loader, kill_run_fit(dir));
  std::vector<torch::Tensor> params;
  for (const auto& p : t.recipe()->parameters()) params.push_back(p.detach().clone());
  torch::save(params, (dir / "final.pt").string());
}

TEST_CASE("kill -9 at 50 random moments: the checkpoint always loads, resumed runs equal the uninterrupted run") {
  const auto dir = tmpdir() / "kill";
  fs::remove_all(dir);
  fs::create_directories(dir);
  at::set_num_threads(1);
  // The uninterrupted run.
  std::vector<torch::Tensor> reference;
  {
    auto loader = tiny_loader(0);
    auto t = make_trainer(1);
    torch::manual_seed(99);
    auto fit = kill_run_fit(dir);
    fit.checkpoint_path.clear();
    t.fit(loader, fit);
    for (const auto& p : t.recipe()->parameters()) reference.push_back(p.detach().clone());
  }
  const std::string exe = fs::read_symlink("/proc/self/exe").string();
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  env.push_back("SSL_KILL_DIR=" + dir.string());
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string a1 = "--no-skip", a2 = "-tc=checkpoint worker";
  std::vector<char*> argv{const_cast<char*>(exe.c_str()), a1.data(), a2.data(), nullptr};
  std::mt19937 rng(7);
  // Kills land 0-400 ms after the child starts training (it writes `started`), whatever the
  // machine's load: mid-step or mid-save, never all before the first step.
  std::uniform_int_distribution<int> delay_ms(0, 400);
  int kills = 0, completed = 0, loads = 0;
  // 50 kills, then one last start that is not killed: it resumes from the last checkpoint and
  // runs to the end (how many of the killed starts reached the end themselves depends on the
  // machine's speed; this one does not).
  for (int attempt = 0; attempt < 200; ++attempt) {
    const bool last = kills == 50;
    pid_t pid = 0;
    fs::remove(dir / "started");
    REQUIRE(posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), envp.data()) == 0);
    if (!last) {
      for (int waited = 0; !fs::exists(dir / "started") && waited < 120000; waited += 2)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
      ::kill(pid, SIGKILL);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
      ++kills;
      if (!fs::exists(dir / "ckpt.pt")) continue;  // killed before its first step
      auto probe = make_trainer(2);
      probe.load((dir / "ckpt.pt").string());  // throws (and fails the case) on a corrupt checkpoint
      ++loads;
      continue;
    }
    // The run reached its end before the kill: bit-identical to the uninterrupted run.
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    std::vector<torch::Tensor> got;
    torch::load(got, (dir / "final.pt").string());
    REQUIRE(got.size() == reference.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(torch::equal(got[i], reference[i]));
    for (const auto& f : fs::directory_iterator(dir))
      CHECK_MESSAGE(f.path().filename().string().find(".tmp.") == std::string::npos, "left behind: ", f.path().filename().string(),
                    " (this run's process: ", pid, ")");
    ++completed;
    fs::remove_all(dir);
    fs::create_directories(dir);
    if (last) break;
  }
  MESSAGE(kills, " kills, ", loads, " checkpoints loaded after a kill, ", completed, " resumed runs completed");
  CHECK(kills == 50);
  CHECK(loads >= 40);
  CHECK(completed >= 1);  // the last start at least (a run that failed would have stopped the case above)
  at::set_num_threads(2);
  fs::remove_all(dir);
}

TEST_CASE("a non-finite buffer stops training by name, and no checkpoint is written from it") {
  const auto d = tmpdir() / "finite";
  fs::remove_all(d);
  fs::create_directories(d);
  const auto ckpt = (d / "ckpt.pt").string();
  const auto make = [] {
    torch::manual_seed(0);
    return ssl::simclr::recipe(ssl::resnet::Encoder(ssl::resnet::resnet18().channels(1).width(4).small_stem(true)),
                               {.augment = ssl::augment::TwoViews::simclr(8, 1), .hidden = 16, .out = 8});
  };
  auto r = make();
  ssl::Trainer t(r, ssl::optim::AdamWOptions{.lr = 1e-3});
  auto loader = tiny_loader(0);
  ssl::FitOptions fit{.epochs = 1, .max_steps = 1, .checkpoint_path = ckpt, .checkpoint_every = 1, .progress = 0};
  t.fit(loader, fit);
  REQUIRE(fs::exists(ckpt));
  // What a diverged run leaves (--lr 1e9): a BatchNorm running variance at inf. The loss stays
  // finite (training mode normalises with the batch's statistics), so only this check sees it.
  {
    torch::NoGradGuard g;
    r->backbone()->bn1->running_var.fill_(INFINITY);
  }
  fit.max_steps = 2;
  CHECK_THROWS_WITH_AS(t.fit(loader, fit), doctest::Contains("buffer backbone.bn1.running_var has non-finite values after step 2"),
                       c10::Error);
  auto fresh = make();
  ssl::Trainer u(fresh, ssl::optim::AdamWOptions{.lr = 1e-3});
  u.load(ckpt);  // the checkpoint on disk is still step 1's
  CHECK(u.step() == 1);
  CHECK(torch::isfinite(fresh->backbone()->bn1->running_var).all().item<bool>());
  fs::remove_all(d);
}

TEST_CASE("fit options and EMA momentum out of range are errors naming them, before any step") {
  auto t = make_trainer(1);
  auto loader = tiny_loader(0);
  CHECK_THROWS_WITH_AS(t.fit(loader, {.epochs = 0, .progress = 0}), doctest::Contains("FitOptions::epochs must be >= 1"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(t.fit(loader, {.epochs = 1, .clip_grad_norm = NAN, .progress = 0}),
                       doctest::Contains("FitOptions::clip_grad_norm must be a finite number >= 0"), c10::Error);
  CHECK(t.step() == 0);
  const std::vector<torch::Tensor> s{torch::ones({2})}, te{torch::zeros({2})};
  CHECK_THROWS_WITH_AS((ssl::teacher::Ema{.base = 1.5})(s, te, {}), doctest::Contains("momentum must be in [0, 1]"), c10::Error);
  CHECK_THROWS_WITH_AS((ssl::teacher::Ema{.base = 0.99, .final = 2.0})(s, te, {}), doctest::Contains("final = 2"), c10::Error);
  CHECK(torch::equal(te[0], torch::zeros({2})));
}

TEST_CASE("the metrics log: a JSON object per line, keys in order, integers as integers, non-finite numbers as null") {
  const auto d = tmpdir();
  const auto path = d / "train.jsonl";
  fs::remove(path);
  auto t = make_trainer(1);
  auto loader = tiny_loader(0);  // 5 steps per epoch
  t.fit(loader, {.epochs = 1, .log_every = 2, .metrics_path = path.string(), .progress = 0});
  std::ifstream in(path);
  std::vector<ssl::train::Json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(ssl::train::Json::parse(line));
  REQUIRE(lines.size() == 3);  // steps 2 and 4, and the last one
  std::vector<int64_t> steps;
  for (const auto& j : lines) {
    steps.push_back(j["step"].get<int64_t>());
    CHECK(j["step"].is_number_integer());
    CHECK(j["epoch"].is_number_integer());
    CHECK(j["lr"].is_number_float());
    std::vector<std::string> keys;
    for (const auto& [k, v] : j.items()) keys.push_back(k);
    REQUIRE(keys.size() >= 5);
    CHECK(std::vector<std::string>(keys.begin(), keys.begin() + 4) == std::vector<std::string>{"step", "epoch", "lr", "loss"});
    CHECK(keys.back() == "items_per_s");
    CHECK(j["loss"].get<double>() > 0);
  }
  CHECK(steps == std::vector<int64_t>{2, 4, 5});
  {
    ssl::train::MetricsLog log((d / "values.jsonl").string());
    log.write({{"nan", NAN}, {"inf", -INFINITY}, {"x", 0.1}, {"n", int64_t(3)}, {"s", "a\"b\n"}});
  }
  std::ifstream v(d / "values.jsonl");
  std::string line;
  std::getline(v, line);
  CHECK(line == R"({"nan":null,"inf":null,"x":0.1,"n":3,"s":"a\"b\n"})");
}

TEST_CASE("loader: every sample once per epoch, epochs differ, resume mid-epoch, prefetch = inline") {
  auto images = torch::arange(50, torch::kInt64).view({50, 1});
  ssl::data::Loader l(images, images.view({50}), nullptr, {.batch_size = 8, .drop_last = false, .seed = 3});
  CHECK(l.batches_per_epoch() == 7);
  std::vector<int64_t> seen;
  l.run(0, 0, [&](const ssl::Batch& b, int64_t) {
    for (int64_t i = 0; i < b.input.size(0); ++i) seen.push_back(b.input[i][0].item<int64_t>());
    CHECK(torch::equal(b.input.view({-1}), b.target));
    return true;
  });
  std::sort(seen.begin(), seen.end());
  CHECK(seen.size() == 50);
  for (int64_t i = 0; i < 50; ++i) CHECK(seen[i] == i);
  CHECK_FALSE(torch::equal(l.order(0), l.order(1)));
  std::vector<torch::Tensor> full, resumed, inline_;
  l.run(1, 0, [&](const ssl::Batch& b, int64_t) { full.push_back(b.input); return true; });
  l.run(1, 4, [&](const ssl::Batch& b, int64_t) { resumed.push_back(b.input); return true; });
  ssl::data::Loader l0(images, {}, nullptr, {.batch_size = 8, .drop_last = false, .seed = 3, .prefetch = 0});
  l0.run(1, 0, [&](const ssl::Batch& b, int64_t) { inline_.push_back(b.input); return true; });
  REQUIRE(resumed.size() == 3);
  for (size_t i = 0; i < 3; ++i) CHECK(torch::equal(resumed[i], full[4 + i]));
  for (size_t i = 0; i < full.size(); ++i) CHECK(torch::equal(inline_[i], full[i]));
  // Early stop and errors in the producer thread propagate.
  int calls = 0;
  l.run(0, 0, [&](const ssl::Batch&, int64_t) { return ++calls < 2; });
  CHECK(calls == 2);
  ssl::data::Loader bad(images, {}, [](const torch::Tensor&) -> torch::Tensor { TORCH_CHECK(false, "boom"); }, {.batch_size = 8});
  CHECK_THROWS_WITH_AS(bad.run(0, 0, [](const ssl::Batch&, int64_t) { return true; }), doctest::Contains("boom"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(ssl::data::Loader(images, {}, nullptr, {.batch_size = 64}), doctest::Contains("leaves no batch"),
                       c10::Error);
}

TEST_CASE("a diverging loss stops training with a message that says where") {
  auto t = make_trainer(1);
  auto loader = tiny_loader(0);
  t.optimizer().set_lr_factor(1.0);
  ssl::data::Loader nan_loader(torch::full({16, 1, 8, 8}, 1, torch::kUInt8), {},
                               [](const torch::Tensor& x) { return x.to(torch::kFloat32) * NAN; }, {.batch_size = 8});
  CHECK_THROWS_WITH_AS(t.fit(nan_loader, {.epochs = 1, .progress = 0}), doctest::Contains("the loss is nan at step 0"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(t.load("/nonexistent/ckpt.pt"), doctest::Contains("file not found"), c10::Error);
  const auto d = tmpdir();
  std::ofstream(d / "junk.pt") << "not a checkpoint";
  CHECK_THROWS_WITH_AS(t.load((d / "junk.pt").string()), doctest::Contains("not a readable checkpoint"), c10::Error);
}

TEST_CASE("NonFinite::skip_step: a step with a nan loss leaves the parameters as they were, is counted, and too many in a row stop") {
  const auto d = tmpdir() / "skip";
  fs::remove_all(d);
  fs::create_directories(d);
  const auto log_path = d / "train.jsonl";
  auto t = make_trainer(1);
  std::vector<torch::Tensor> before;
  for (const auto& p : t.recipe()->parameters()) before.push_back(p.detach().clone());
  int calls = 0;  // the loader's first batch is nan, the others are not (no prefetch: in order)
  ssl::data::Loader l(torch::full({24, 1, 8, 8}, 100, torch::kUInt8), {},
                      [&calls](const torch::Tensor& x) { return x.to(torch::kFloat32) / 255.0 * (calls++ == 0 ? NAN : 1.0); },
                      {.batch_size = 8, .prefetch = 0});
  ssl::FitOptions fit{.epochs = 1, .max_steps = 1, .log_every = 1, .metrics_path = log_path.string(),
                      .non_finite = ssl::NonFinite::skip_step, .progress = 0};
  t.fit(l, fit);
  REQUIRE(t.step() == 1);  // the skipped step counts (the schedule moves on)
  auto now = t.recipe()->parameters();
  for (size_t i = 0; i < before.size(); ++i) CHECK(torch::equal(now[i], before[i]));
  fit.max_steps = -1;
  t.fit(l, fit);  // steps 2 and 3: finite, taken
  CHECK(t.step() == 3);
  bool moved = false;
  for (size_t i = 0; i < before.size(); ++i) {
    CHECK(torch::isfinite(now[i]).all().item<bool>());
    moved |= !torch::equal(now[i], before[i]);
  }
  CHECK(moved);
  std::ifstream in(log_path);
  std::vector<ssl::train::Json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(ssl::train::Json::parse(line));
  REQUIRE(lines.size() == 3);
  for (const auto& j : lines) CHECK(j.at("skipped_steps") == 1);
  CHECK(t.skipped_steps() == 1);
  CHECK(lines[0].at("loss").is_null());  // the skipped step's nan loss, logged as null
  // Every batch nan: the third skip in a row ends the run (max_consecutive_skips = 2), by name.
  auto u = make_trainer(1);
  ssl::data::Loader all_nan(torch::full({32, 1, 8, 8}, 1, torch::kUInt8), {},
                            [](const torch::Tensor& x) { return x.to(torch::kFloat32) * NAN; }, {.batch_size = 8});
  CHECK_THROWS_WITH_AS(u.fit(all_nan, {.epochs = 1, .non_finite = ssl::NonFinite::skip_step, .max_consecutive_skips = 2,
                                       .progress = 0}),
                       doctest::Contains("3 steps in a row had a non-finite loss or gradient (the last: step 2)"), c10::Error);
  fs::remove_all(d);
}

TEST_CASE("a resumed run's log has each step once: the lines a killed run wrote after its last checkpoint are dropped") {
  const auto d = tmpdir() / "log_resume";
  fs::remove_all(d);
  fs::create_directories(d);
  const auto log_path = d / "train.jsonl", ckpt = d / "ckpt.pt", kept = d / "step2.pt";
  auto loader = tiny_loader(0);  // 5 steps per epoch
  auto a = make_trainer(1);
  ssl::FitOptions fit{.epochs = 1, .max_steps = 2, .log_every = 1, .metrics_path = log_path.string(),
                      .checkpoint_path = ckpt.string(), .progress = 0};
  a.fit(loader, fit);
  fs::copy_file(ckpt, kept);  // the last checkpoint before the "kill"
  fit.max_steps = 4;
  a.fit(loader, fit);  // steps 3 and 4 logged, then the run "dies"
  {
    std::ofstream torn(log_path, std::ios::app);
    torn << R"({"step": 5, "loss")";  // a line cut short by the kill
  }
  auto b = make_trainer(1);
  b.load(kept.string());
  fit.max_steps = -1;
  b.fit(loader, fit);  // steps 3 to 5 again
  std::ifstream in(log_path);
  std::vector<int64_t> steps;
  for (std::string line; std::getline(in, line);) steps.push_back(ssl::train::Json::parse(line).at("step").get<int64_t>());
  CHECK(steps == std::vector<int64_t>{1, 2, 3, 4, 5});
  // The function alone: lines without a step and unparsable ones stay.
  {
    std::ofstream out(log_path, std::ios::trunc);
    out << "{\"step\": 1}\n{\"note\": \"x\"}\nnot json\n{\"step\": 3}\n{\"step\": 2}\n";
  }
  ssl::train::drop_steps_after(log_path, 2);
  std::ifstream in2(log_path);
  std::string all((std::istreambuf_iterator<char>(in2)), std::istreambuf_iterator<char>());
  CHECK(all == "{\"step\": 1}\n{\"note\": \"x\"}\nnot json\n{\"step\": 2}\n");
  fs::remove_all(d);
}
}

}  // namespace test_train
