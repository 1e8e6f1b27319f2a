#pragma once
/// \file train/trainer.hpp
/// The one training loop of libssl. It drives any `Trainable` (a composed method, or a classifier
/// for fine-tuning) and knows nothing of which method it runs.
///
/// Data-parallel (a `dist::Session` joined, world size W > 1): every process starts from process
/// 0's parameters and buffers, the loader shards each global batch, gradients are all-reduced in
/// buckets while backward runs (`dist::GradSync`) and averaged, so every process takes the same
/// optimizer step; the reported loss is the mean over processes; only process 0 logs, draws the
/// progress bar and writes checkpoints (every process can `load` them: parameters, optimizer and
/// RNG state are the same on all).
///
/// Alerts: a loss part named `alert_<what>` (a monitor's flag, monitor/monitors.hpp: `alert_collapse`)
/// is logged as any part and, while its latest value is nonzero, shown on the progress line as
/// `!<what>`. That is the whole of the trainer's part in monitoring: the monitors are loss parts.
#include <ssl/concepts.hpp>
#include <ssl/core/types.hpp>
#include <ssl/data/loader.hpp>
#include <ssl/dist/collective.hpp>
#include <ssl/dist/data_parallel.hpp>
#include <ssl/nn/batch_norm.hpp>
#include <ssl/train/checkpoint.hpp>
#include <ssl/train/metrics_log.hpp>
#include <ssl/train/optim.hpp>
#include <ssl/train/progress.hpp>
#include <ssl/train/schedule.hpp>
#include <ssl/train/tensorboard.hpp>

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ssl {

namespace detail {
template <class R>
concept computes_loss = requires(R r, const Batch& b) {
  { r->forward(b) } -> std::same_as<LossOutput>;
};
template <class R>
concept has_named_parameters = requires(R r) {
  { r->named_parameters() };
  { r->train(true) };
};
}  // namespace detail

/// What the trainer drives: a module holder whose `forward(Batch)` gives the loss (an
/// `ssl::Compose` recipe, an `eval::Classifier`). Its optional hooks are `StepsBefore` and
/// `StepsAfter`.
template <class R>
concept Trainable = detail::computes_loss<R> && detail::has_named_parameters<R>;

/// A Trainable told where the run is before each step (`Compose` tells its `StepAware` parts).
template <class R>
concept StepsBefore = Trainable<R> && requires(R r, const StepInfo& i) { r->before_step(i); };

/// A Trainable called after each optimizer step (`Compose` updates its teacher there).
template <class R>
concept StepsAfter = Trainable<R> && requires(R r, const StepInfo& i) { r->after_optimizer_step(i); };

/// What `Trainer::fit` does with a step whose loss is not finite (`FitOptions::non_finite`).
enum class NonFinite {
  /// Stop with an error naming the step. A CPU loss is checked at every batch; a CUDA loss is
  /// flagged on the device and the flag read at the next log line, parameter check or checkpoint
  /// (no host synchronisation per step), so no checkpoint is ever written after it.
  stop,
  /// Leave the parameters as they are for that step (no optimizer step, no teacher update) when
  /// its loss or a gradient is not finite, count it (`skipped_steps` in the log) and go on; the
  /// step still counts for the schedule. One host synchronisation per step, as PyTorch's
  /// GradScaler. BatchNorm statistics the bad batch updated are caught by the parameter and buffer
  /// check (`check_finite_every`).
  skip_step,
};

/// Example: `FitOptions{.epochs = 10, .clip_grad_norm = 1.0, .metrics_path = "out/train.jsonl"}`.
struct FitOptions {
  int64_t epochs = 1;  ///< epochs to train (the schedule spans them)
  /// Stop after this many optimizer steps in total (-1: run all epochs). The schedule still
  /// spans `epochs`, so a run stopped here and resumed continues identically.
  int64_t max_steps = -1;
  /// Clip the global gradient norm to this value (0 = off).
  double clip_grad_norm = 0.0;
  /// bf16 autocast for CUDA batches (ignored on CPU).
  bool bf16 = false;
  /// Gradient accumulation: one optimizer step per `accumulate` loader batches, each batch's
  /// loss scaled by 1/accumulate (the step of a batch `accumulate` times larger for losses that
  /// are means over samples; contrastive negatives stay within a batch). Steps, schedules and
  /// `max_steps` count optimizer steps.
  int64_t accumulate = 1;
  /// Data-parallel gradient bucket size in MiB.
  double bucket_mib = 25.0;
  /// Data-parallel: BatchNorm over the global batch. When the run starts, every `nn::BatchNorm1d`
  /// / `nn::BatchNorm2d` of the recipe is switched to synchronised statistics
  /// (`nn::convert_sync_batch_norm`, PyTorch's `convert_sync_batchnorm`); false keeps
  /// per-process statistics (PyTorch DDP's default).
  bool sync_batch_norm = true;
  /// Metrics every `log_every` steps to `metrics_path` (JSON lines; empty = none).
  int64_t log_every = 50;
  std::string metrics_path;  ///< the JSON-lines metrics file; empty: none
  /// TensorBoard event files in this folder (empty = none): every `log_every` steps, each number
  /// of the metrics record (loss, lr, each loss part, items_per_s, epoch) as a scalar at its step
  /// (`train::TensorBoard`). Each fit starts a session at the first step it logs, so the steps an
  /// interrupted run logged after the checkpoint it resumes from are dropped and curves do not
  /// double back. Usually the folder of `metrics_path`.
  std::string tensorboard_dir;
  /// Checkpoint to `checkpoint_path` every `checkpoint_every` steps and at the end (0 = only at
  /// the end; empty path = never).
  std::string checkpoint_path;
  int64_t checkpoint_every = 0;  ///< steps between checkpoints; 0: only at the end
  /// Every this many steps, and before every checkpoint, each parameter and buffer is checked for
  /// non-finite values (one host synchronisation per check): a non-finite one stops training with
  /// an error naming it, and no checkpoint is written from it. 0: only before checkpoints.
  int64_t check_finite_every = 50;
  /// What a non-finite loss does (see `NonFinite`): stop training with an error naming the step
  /// (default), or skip that step.
  NonFinite non_finite = NonFinite::stop;
  /// `NonFinite::skip_step`: this many skipped steps in a row stop training with an error (a run
  /// that has diverged for good).
  int64_t max_consecutive_skips = 10;
  /// What else defines this run, as name/value pairs (a model option its tensors' shapes do not
  /// show, such as a ViT's head count; the seed). Checkpoints record them, with the global batch,
  /// the accumulation and the epoch length; resuming a checkpoint into a run where one differs
  /// is an error naming it, raised before the first step.
  std::vector<std::pair<std::string, std::string>> config;
  /// Progress bar label; `progress`: -1 auto, 0 off, 1 on.
  std::string label = "train";
  int progress = -1;  ///< progress bar: -1 auto (a terminal), 0 off, 1 on
};

/// `Opt`: `optim::AdamW` (default), `optim::Lars`, or any `optim::Optimizer`.
template <Trainable R, class Schedule = schedule::CosineWarmup, optim::Optimizer Opt = optim::AdamW>
class Trainer {
 public:
  /// Trains `recipe` with `optimizer`, its learning rate scaled by `schedule` at every step.
  Trainer(R recipe, Opt optimizer, Schedule schedule = {})
      : recipe_(std::move(recipe)), opt_(std::move(optimizer)), schedule_(std::move(schedule)) {}

  /// Convenience: AdamW over all of the recipe's parameters (no decay on norms/biases/tokens).
  Trainer(R recipe, optim::AdamWOptions o, Schedule schedule = {}) requires std::same_as<Opt, optim::AdamW>
      : Trainer(recipe, optim::AdamW(recipe->named_parameters().pairs(), o), std::move(schedule)) {}

  /// Trains on `loader` (any `DataSource`: in-memory tensors, an image folder, a token store)
  /// until `o.epochs` epochs (or `o.max_steps` steps) are done, from wherever the trainer is
  /// (fresh, or restored by `load`: the same epoch and batch). Returns the mean loss of the last
  /// epoch's steps run in this call: NaN when it took no step (a run resumed at its end, or one
  /// whose last epoch's steps were all skipped as non-finite), never a made-up 0.
  template <class Source>
  double fit(const Source& loader, const FitOptions& o) {
    static_assert(DataSource<Source>, "Trainer::fit: the data must satisfy the ssl::DataSource concept: "
                                      "`int64_t batches_per_epoch() const`, `int64_t global_batch_size() const` and "
                                      "`void run(int64_t epoch, int64_t batch, F f) const` calling `bool f(const Batch&, int64_t)`");
    TORCH_CHECK(o.epochs >= 1, "Trainer: FitOptions::epochs must be >= 1 (the epochs the schedule spans), got ", o.epochs);
    TORCH_CHECK(o.max_steps >= -1, "Trainer: FitOptions::max_steps must be >= 0 (or -1: all epochs), got ", o.max_steps);
    TORCH_CHECK(std::isfinite(o.clip_grad_norm) && o.clip_grad_norm >= 0,
                "Trainer: FitOptions::clip_grad_norm must be a finite number >= 0 (0: off), got ", o.clip_grad_norm);
    TORCH_CHECK(o.checkpoint_every >= 0 && o.log_every >= 0 && o.check_finite_every >= 0,
                "Trainer: FitOptions::checkpoint_every, log_every and check_finite_every must be >= 0, got ",
                o.checkpoint_every, ", ", o.log_every, " and ", o.check_finite_every);
    TORCH_CHECK(std::isfinite(o.bucket_mib) && o.bucket_mib > 0, "Trainer: FitOptions::bucket_mib must be > 0, got ",
                o.bucket_mib);
    TORCH_CHECK(o.accumulate >= 1, "Trainer: accumulate must be >= 1, got ", o.accumulate);
    TORCH_CHECK(o.max_consecutive_skips >= 1, "Trainer: FitOptions::max_consecutive_skips must be >= 1, got ",
                o.max_consecutive_skips);
    const int64_t acc = o.accumulate;
    const int64_t spe = loader.batches_per_epoch() / acc;
    TORCH_CHECK(spe >= 1, "Trainer: ", loader.batches_per_epoch(), " batches per epoch make no step of ", acc,
                " accumulated batches");
    const int64_t total = o.epochs * spe;
    const int64_t stop_at = o.max_steps >= 0 ? std::min(o.max_steps, total) : total;
    const bool main = dist::is_main();
    std::optional<dist::GradSync> sync;
    if (dist::world_size() > 1) {
      dist::broadcast_module(*recipe_);
      if (o.sync_batch_norm) nn::convert_sync_batch_norm(*recipe_);
      sync.emplace(opt_.parameters(), static_cast<int64_t>(o.bucket_mib * 1024 * 1024));
    }
    const int64_t samples_per_step = loader.global_batch_size() * acc;
    run_config_ = {{"global_batch", std::to_string(loader.global_batch_size())},
                   {"accumulate", std::to_string(acc)},
                   {"batches_per_epoch", std::to_string(loader.batches_per_epoch())}};
    run_config_.insert(run_config_.end(), o.config.begin(), o.config.end());
    if (!resumed_from_.empty()) {  // the first fit after `load`: the run must be the checkpoint's
      check_resumed_config();
      // The steps a killed run logged after its last checkpoint are run (and logged) again.
      if (main) train::drop_steps_after(o.metrics_path, step_);
      resumed_from_.clear();
    }
    train::MetricsLog log(main ? o.metrics_path : std::string());
    train::TensorBoard tb(main ? o.tensorboard_dir : std::string());
    tb.session_start(step_ + 1);  // the first step it logs: a resumed run's orphaned steps are dropped
    train::Progress bar(o.label, std::max<int64_t>(stop_at - step_, 0), "samples", main ? o.progress : 0);
    const int64_t first_step = step_;
    const bool skip = o.non_finite == NonFinite::skip_step;
    // The loss stays where it was computed: a CPU loss is read every batch (free), a CUDA loss
    // only when a line is logged or drawn and at the checks below (`LossTrack`).
    LossTrack track;
    std::vector<std::pair<std::string, torch::Tensor>> alerts;  // the latest value of each `alert_*` part
    int64_t skipped_in_a_row = 0;
    recipe_->train(true);
    while (epoch_ < o.epochs && step_ < stop_at) {
      track.new_epoch();
      loader.run(epoch_, batch_, [&](const Batch& batch, int64_t b) {
        if (b >= spe * acc) return false;  // an incomplete accumulation group ends the epoch
        const int64_t micro = b % acc;
        const StepInfo info{.step = step_, .total_steps = total, .epoch = epoch_, .steps_per_epoch = spe};
        if (micro == 0) {
          opt_.set_lr_factor(schedule_(info));
          if constexpr (StepsBefore<R>) recipe_->before_step(info);
          opt_.zero_grad();
        }
        if (sync) sync->arm(micro == acc - 1);
        LossOutput out = forward(batch, o.bf16);
        for (const auto& [k, v] : out.parts) {
          if (!k.starts_with("alert_")) continue;
          auto it = std::find_if(alerts.begin(), alerts.end(), [&k = k](const auto& a) { return a.first == k; });
          if (it == alerts.end()) alerts.emplace_back(k, v.detach());
          else it->second = v.detach();
        }
        track.add(dist::all_reduce_mean(out.loss.detach()), acc, micro == 0, step_, !skip, epoch_, b);
        (acc > 1 ? out.loss / double(acc) : out.loss).backward();
        batch_ = b + 1;
        if (micro < acc - 1) return true;
        if (sync) sync->finish();
        bool stepped = true;
        if (skip && !step_is_finite(track.step_loss())) {
          stepped = false;
          ++skipped_;
          TORCH_CHECK(++skipped_in_a_row <= o.max_consecutive_skips, "Trainer: ", skipped_in_a_row,
                      " steps in a row had a non-finite loss or gradient (the last: step ", step_,
                      "); the run has diverged: lower the learning rate or enable clip_grad_norm");
          opt_.zero_grad();
        } else {
          skipped_in_a_row = 0;
          if (o.clip_grad_norm > 0) torch::nn::utils::clip_grad_norm_(opt_.parameters(), o.clip_grad_norm);
          opt_.step();
          if constexpr (StepsAfter<R>) recipe_->after_optimizer_step(info);
        }
        ++step_;
        track.end_step(stepped);
        const bool log_due = o.log_every > 0 && (step_ % o.log_every == 0 || step_ == stop_at);
        const bool save_due = !o.checkpoint_path.empty() && o.checkpoint_every > 0 && step_ % o.checkpoint_every == 0 && main;
        const bool check_due = o.check_finite_every > 0 && step_ % o.check_finite_every == 0;
        if (log_due || save_due || check_due) track.check();
        if (log_due) {
          train::Json rec = {{"step", step_}, {"epoch", epoch_}, {"lr", opt_.lr()}, {"loss", track.step_value()}};
          for (const auto& [k, v] : out.parts) rec[k] = dist::all_reduce_mean(v.detach()).template item<double>();
          if (skip) rec["skipped_steps"] = skipped_;
          rec["items_per_s"] = double((step_ - first_step) * samples_per_step) / std::max(1e-9, bar.seconds());
          log.write(rec);
          tb.scalars(rec, step_);
        }
        bar.update(step_ - first_step, (step_ - first_step) * samples_per_step, [&] {
          char extra[64];
          std::snprintf(extra, sizeof extra, "ep %lld loss %.4f", (long long)epoch_ + 1, track.step_value());
          std::string line(extra);
          for (const auto& [k, v] : alerts)
            if (v.template item<double>() != 0) line += " !" + k.substr(6);  // "alert_collapse" -> "!collapse"
          return line;
        });
        if (save_due) {
          save(o.checkpoint_path);  // checks every parameter and buffer first
        } else if (check_due) {
          check_finite();
        }
        return step_ < stop_at;
      });
      if (batch_ >= spe * acc) {
        batch_ = 0;
        ++epoch_;
      }
    }
    track.check();
    if (!o.checkpoint_path.empty() && main) save(o.checkpoint_path);
    return track.epoch_mean();
  }

  /// Model, optimizer, position (step, epoch, batch) and RNG state, written atomically with a
  /// checksum (train::atomic_save), with the model's tensor names and shapes and the run's
  /// configuration (`FitOptions::config`, the global batch, ...) for `load` to compare.
  /// A model with a non-finite parameter or buffer is not saved: the error names it
  /// (`check_finite`), and the last checkpoint on disk stays as it was.
  void save(const std::string& path) {
    check_finite();
    train::atomic_save(path, [&](torch::serialize::OutputArchive& ar) {
      ar.write("config.tensors", c10::IValue(train::detail::tensor_layout(*recipe_)));
      ar.write("config.run", c10::IValue(train::detail::config_string(run_config_)));
      torch::serialize::OutputArchive model, opt;
      recipe_->save(model);
      opt_.save(opt);
      ar.write("model", model);
      ar.write("optimizer", opt);
      ar.write("step", torch::tensor(step_));
      ar.write("epoch", torch::tensor(epoch_));
      ar.write("batch", torch::tensor(batch_));
      ar.write("skipped_steps", torch::tensor(skipped_));
      train::save_rng(ar);
    });
  }
  /// Restores what `save` wrote; training continues exactly where it stopped. A checkpoint of
  /// another model (a tensor missing, extra, or of another shape) is refused here, naming the
  /// tensor; one of another run configuration is refused by the next `fit`, naming the field.
  void load(const std::string& path) {
    torch::serialize::InputArchive ar, model, opt;
    train::load_archive(path, ar);
    c10::IValue layout, run;
    if (ar.try_read("config.tensors", layout))
      train::detail::check_layout(layout.toStringRef(), train::detail::tensor_layout(*recipe_), path);
    resumed_config_ = ar.try_read("config.run", run) ? train::detail::parse_config(run.toStringRef()) : decltype(run_config_){};
    resumed_from_ = path;
    ar.read("model", model);
    ar.read("optimizer", opt);
    recipe_->load(model);
    opt_.load(opt);
    torch::Tensor t;
    ar.read("step", t);
    step_ = t.item<int64_t>();
    ar.read("epoch", t);
    epoch_ = t.item<int64_t>();
    ar.read("batch", t);
    batch_ = t.item<int64_t>();
    torch::Tensor skipped;  // absent from checkpoints written before NonFinite::skip_step
    skipped_ = ar.try_read("skipped_steps", skipped) ? skipped.item<int64_t>() : 0;
    train::load_rng(ar);
  }

  /// The recipe being trained.
  R& recipe() { return recipe_; }
  /// The optimizer.
  Opt& optimizer() { return opt_; }
  /// Optimizer steps taken so far (restored by `load`).
  [[nodiscard]] int64_t step() const { return step_; }
  /// The current epoch (0-based; restored by `load`).
  [[nodiscard]] int64_t epoch() const { return epoch_; }
  /// Steps skipped so far for a non-finite loss or gradient (`NonFinite::skip_step`; restored by `load`).
  [[nodiscard]] int64_t skipped_steps() const { return skipped_; }

  /// Throws, naming the first parameter or buffer of the recipe with a non-finite value (a
  /// diverged run: BatchNorm running variances at inf, weights at nan); one host synchronisation.
  void check_finite() {
    torch::NoGradGuard g;
    std::vector<torch::Tensor> ok;
    std::vector<std::string> names;
    for (const auto& p : recipe_->named_parameters()) {
      ok.push_back(torch::isfinite(p.value()).all());
      names.push_back("parameter " + p.key());
    }
    for (const auto& b : recipe_->named_buffers())
      if (b.value().defined() && b.value().is_floating_point()) {
        ok.push_back(torch::isfinite(b.value()).all());
        names.push_back("buffer " + b.key());
      }
    if (ok.empty()) return;
    const auto flags = torch::stack(ok).cpu();
    if (flags.all().item<bool>()) return;
    const auto first = (~flags).nonzero()[0][0].item<int64_t>();
    TORCH_CHECK(false, "Trainer: ", names[size_t(first)], " has non-finite values after step ", step_,
                " (the run diverged: lower the learning rate or enable clip_grad_norm); nothing is saved from it");
  }

 private:
  /// The losses of a fit's steps, kept on the loss's device: nothing here copies a CUDA loss to
  /// the host except `check`, `step_value` and `epoch_mean`, which the trainer calls at the steps
  /// it logs, draws, checks or saves. Sums are in float64, as the host sums they replace.
  class LossTrack {
   public:
    /// A new epoch: its mean starts from nothing.
    void new_epoch() {
      epoch_sum_ = torch::Tensor();
      epoch_n_ = 0;
    }
    /// `l`: a batch's loss, 1/`acc` of its step's (in float64, as the host sums it replaces);
    /// `first`: the first batch of the step. With `check`, a non-finite `l` stops training: at
    /// once for a CPU loss (naming the epoch and batch), at the next `check` for a CUDA one (the
    /// first such step is kept on the device).
    void add(const torch::Tensor& l, int64_t acc, bool first, int64_t step, bool check, int64_t epoch, int64_t batch) {
      const auto v = l.to(torch::kFloat64);
      step_loss_ = first ? v / double(acc) : step_loss_ + v / double(acc);
      if (!check) return;
      if (!v.is_cuda()) {
        const double x = v.item<double>();
        TORCH_CHECK(std::isfinite(x), "Trainer: the loss is ", x, " at step ", step, " (epoch ", epoch, ", batch ", batch,
                    "); lower the learning rate or enable clip_grad_norm");
        return;
      }
      if (!first_bad_.defined()) first_bad_ = torch::full({}, -1, v.options().dtype(torch::kInt64));
      first_bad_ = torch::where(torch::isfinite(v).logical_not().logical_and(first_bad_ < 0),
                                torch::full({}, step, first_bad_.options()), first_bad_);
    }
    /// The step ended; `stepped`: its optimizer step was taken (a skipped step is not in the mean).
    void end_step(bool stepped) {
      if (!stepped) return;
      epoch_sum_ = epoch_sum_.defined() ? epoch_sum_ + step_loss_ : step_loss_.clone();
      ++epoch_n_;
    }
    /// Throws if a CUDA loss was not finite since the fit began (one host synchronisation).
    void check() const {
      if (!first_bad_.defined()) return;
      const auto s = first_bad_.item<int64_t>();
      TORCH_CHECK(s < 0, "Trainer: the loss is not finite (nan or inf) at step ", s,
                  "; lower the learning rate or enable clip_grad_norm (nothing is saved from this run after it)");
    }
    /// The last step's loss, on its device.
    [[nodiscard]] const torch::Tensor& step_loss() const { return step_loss_; }
    /// The last step's loss (a host read).
    [[nodiscard]] double step_value() const { return step_loss_.defined() ? step_loss_.item<double>() : 0.0; }
    /// The mean loss of this epoch's steps taken so far (NaN without any).
    [[nodiscard]] double epoch_mean() const {
      return epoch_n_ > 0 ? epoch_sum_.item<double>() / double(epoch_n_) : std::numeric_limits<double>::quiet_NaN();
    }

   private:
    torch::Tensor step_loss_, epoch_sum_, first_bad_;
    int64_t epoch_n_ = 0;
  };

  /// `NonFinite::skip_step`: whether the step's loss and every gradient are finite (one host
  /// synchronisation).
  bool step_is_finite(const torch::Tensor& loss) {
    torch::NoGradGuard g;
    std::vector<torch::Tensor> ok{torch::isfinite(loss).all()};
    for (const auto& p : opt_.parameters())
      if (p.grad().defined()) ok.push_back(torch::isfinite(p.grad()).all().to(loss.device()));
    return torch::stack(ok).all().item<bool>();
  }

  /// The resumed checkpoint's run configuration against this run's: the first field that differs.
  void check_resumed_config() const {
    for (const auto& [k, v] : resumed_config_) {
      auto it = std::find_if(run_config_.begin(), run_config_.end(), [&k = k](const auto& kv) { return kv.first == k; });
      TORCH_CHECK(it != run_config_.end(), "Trainer: resuming '", resumed_from_, "': the checkpoint's run sets ", k,
                  " = ", v, " and this run does not set ", k, " (FitOptions::config)");
      TORCH_CHECK(it->second == v, "Trainer: resuming '", resumed_from_, "': ", k, " is ", v, " in the checkpoint but ",
                  it->second, " in this run; resume with the same ", k, " or start a new run");
    }
  }

  LossOutput forward(const Batch& batch, bool bf16) {
    if (!bf16 || !batch.input.is_cuda()) return recipe_->forward(batch);
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
#else
    at::autocast::set_enabled(true);
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
#endif
    struct Off {
      ~Off() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
        at::autocast::set_autocast_enabled(at::kCUDA, false);
#else
        at::autocast::set_enabled(false);
#endif
        at::autocast::clear_cache();
      }
    } off;
    auto out = recipe_->forward(batch);
    out.loss = out.loss.to(torch::kFloat32);
    return out;
  }

  R recipe_;
  Opt opt_;
  Schedule schedule_;
  int64_t step_ = 0, epoch_ = 0, batch_ = 0, skipped_ = 0;
  std::vector<std::pair<std::string, std::string>> run_config_, resumed_config_;
  std::string resumed_from_;
};

}  // namespace ssl
