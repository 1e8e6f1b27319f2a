// Shared by the examples (not part of the library): the command-line options several examples
// declare alike, and their `main`. Each option group is a small struct holding the values (an
// example's `Args` derives from the groups it has and sets its own defaults) and an
// `add_..._options(app, args, ...)` function declaring its options; the help texts that differ
// between examples are arguments. `example_main` captures every option's default (CLI11's
// always_capture_default), so --help shows each example's own defaults.
#pragma once
#include <CLI/CLI.hpp>
#include <ssl/train/trainer.hpp>

#include "checks.hpp"
#include "dist.hpp"
#include "guard.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ex {

/// The options of a training run: `--out`, `--threads`, `--seed`, `--epochs`, `--batch`, `--lr`,
/// `--dist`, and where the example has them `--device`, `--max-steps`, `--resume` and `--procs`.
struct RunArgs {
  std::string out;
  std::string dist;  ///< --dist (or torchrun's environment)
  std::string device = "cpu";
  int threads = 2;      ///< with --procs: in all, split over the processes while training
  int64_t procs = -1;   ///< --procs: processes on this machine (-1: the example's default)
  uint64_t seed = 0;
  int64_t epochs = -1, batch = -1, max_steps = -1;
  double lr = -1;
  bool resume = false;
  bool skip_non_finite = false;  ///< --skip-non-finite: skip a step whose loss or a gradient is not finite
  /// What the trainer does with a non-finite loss (`--skip-non-finite`; default: stop with an error).
  [[nodiscard]] ssl::NonFinite non_finite() const { return skip_non_finite ? ssl::NonFinite::skip_step : ssl::NonFinite::stop; }
};

/// The help texts of `add_run_options`, and which of its optional options the example has.
struct RunHelp {
  std::string out, epochs;
  std::string batch = "batch size", lr = "peak learning rate";
  std::string max_steps;  ///< empty: no --max-steps
  std::string resume;     ///< the checkpoint in <out> that --resume continues from; empty: no --resume
  bool device = false;    ///< --device cpu|cuda
  std::string procs;      ///< the default of --procs (see `add_procs_option`); empty: no --procs
  bool skip_non_finite = false;  ///< --skip-non-finite (the example passes `RunArgs::non_finite()` to its fit)
};

/// Declares the run options of `a` (see `RunArgs`) with the help texts `h`. Each number given is
/// checked when the command line is parsed (checks.hpp).
inline void add_run_options(CLI::App& app, RunArgs& a, const RunHelp& h) {
  app.add_option("--out", a.out, h.out);
  app.add_option("--threads", a.threads,
                 h.procs.empty() ? "CPU threads" : "CPU threads in all (split over the processes while training)")
      ->check(at_least(1));
  if (h.device) add_device_option(app, a.device);
  app.add_option("--seed", a.seed, "random seed");
  app.add_option("--epochs", a.epochs, h.epochs)->check(at_least(1));
  app.add_option("--batch", a.batch, h.batch)->check(at_least(1));
  if (!h.max_steps.empty()) app.add_option("--max-steps", a.max_steps, h.max_steps)->check(at_least(0));
  app.add_option("--lr", a.lr, h.lr)->check(positive());
  if (!h.resume.empty())
    app.add_flag("--resume", a.resume, "continue from <out>/" + h.resume + " (written every " + std::to_string(checkpoint_every) +
                                           " steps while training; an error when there is none)");
  if (h.skip_non_finite)
    app.add_flag("--skip-non-finite", a.skip_non_finite,
                 "skip a step whose loss or a gradient is nan or inf (counted as skipped_steps in train.jsonl; "
                 "10 in a row stop the run) instead of stopping at the first");
  add_dist_option(app, a.dist);
  if (!h.procs.empty()) add_procs_option(app, a.procs, h.procs);
}

/// The shape of an image example's ViT: `--dim`, `--depth`, `--heads`, `--patch`.
struct VitArgs {
  int64_t dim = 64, depth = 4, heads = 4, patch = 7;
};

/// Declares the ViT options of `a`; `dim_help` and `patch_help`: the help texts of `--dim` and
/// `--patch` (what the example says about their defaults and constraints).
inline void add_vit_options(CLI::App& app, VitArgs& a, const std::string& dim_help, const std::string& patch_help) {
  app.add_option("--dim", a.dim, dim_help)->check(at_least(1));
  app.add_option("--depth", a.depth, "ViT blocks")->check(at_least(1));
  app.add_option("--heads", a.heads, "ViT attention heads")->check(at_least(1));
  app.add_option("--patch", a.patch, patch_help)->check(at_least(1));
}

/// The frozen-feature evaluation of an image example: `--probe-epochs`, `--floors`,
/// `--probe-labels`, `--probe-min-steps`.
struct ProbeArgs {
  int64_t probe_epochs = 30;
  bool floors = true;
  std::vector<int64_t> probe_labels{};  ///< --probe-labels: also probe on the first N training labels
  int64_t probe_min_steps = 0;          ///< --probe-min-steps: a budget's probe trains at least this many steps
  bool random_init = false;  ///< --random-init: no pretraining; the backbone is evaluated as initialised
};

/// Declares the evaluation options of `a`; `budgets`: also `--probe-labels` and `--probe-min-steps`
/// (the image examples, whose `frozen_report` reads them).
inline void add_probe_options(CLI::App& app, ProbeArgs& a, bool budgets = true) {
  app.add_option("--probe-epochs", a.probe_epochs, "linear-probe epochs")->check(at_least(1));
  app.add_option("--floors", a.floors, "also measure the raw-pixel k-NN / linear floors");
  if (budgets) {
    app.add_option("--probe-labels", a.probe_labels,
                   "also train the k-NN and the linear probe (and the floors) on the first N training labels only, "
                   "for each N given, from the same frozen features (the frozen side of a label-budget sweep; none "
                   "when not given)")
        ->check(at_least(1));
    app.add_option("--probe-min-steps", a.probe_min_steps,
                   "a --probe-labels budget's linear probe trains at least this many optimizer steps: with few labels "
                   "its epochs are raised to reach it (0: --probe-epochs exactly)")
        ->check(at_least(0));
  }
  auto* random_init = app.add_flag("--random-init", a.random_init,
                                   "no pretraining: evaluate the backbone as initialised, with the same protocol (the random-init "
                                   "baseline; metrics.json says random_init)");
  if (auto* resume = app.get_option_no_throw("--resume")) random_init->excludes(resume);
}

/// The fine-tuning of a pretrained encoder against the same encoder from scratch (examples 00, 05
/// and 06): `--finetune-labels` (one budget or several: the label-budget sweep),
/// `--finetune-epochs`, `--finetune-min-steps`, `--finetune-lr`, `--layer-decay`.
struct FinetuneArgs {
  std::vector<int64_t> finetune_labels{5000};
  int64_t finetune_epochs = 5, finetune_min_steps = 0;
  double finetune_lr = 1e-3, layer_decay = 0.75;
};

/// Declares the fine-tuning options of `a`; `none`: what no `--finetune-labels` means, where an
/// example fine-tunes only when asked; `decay`: what follows `--layer-decay`'s help.
inline void add_finetune_options(CLI::App& app, FinetuneArgs& a, const std::string& none = "",
                                 const std::string& decay = "") {
  app.add_option("--finetune-labels", a.finetune_labels,
                 "labelled training images used for fine-tuning; several: one fine-tune each from the same "
                 "pretrained weights (a label-budget sweep, e.g. 100 1000 5000 60000)" + none)
      ->check(at_least(1));
  app.add_option("--finetune-epochs", a.finetune_epochs, "fine-tuning epochs (pretrained and scratch alike)")
      ->check(at_least(1));
  app.add_option("--finetune-min-steps", a.finetune_min_steps,
                 "fine-tune for at least this many optimizer steps: with few labels the epochs are raised to reach "
                 "it (0: --finetune-epochs exactly; 5 epochs of 5000 labels are 195 steps)")
      ->check(at_least(0));
  app.add_option("--finetune-lr", a.finetune_lr, "fine-tuning peak learning rate")->check(positive());
  app.add_option("--layer-decay", a.layer_decay, "layer-wise lr decay when fine-tuning a pretrained ViT" + decay)
      ->check(in_range(0, 1, true));
}

/// `--monitor-every`: the recipe's loss is watched by its standard monitors
/// (`ssl::monitor::watched`: embedding std and the collapse flag, effective rank, teacher entropy
/// and KL, MLM accuracy, ELECTRA's gain over the prior), measured every N steps (0: off) and
/// logged in train.jsonl on the logged steps (every 50) that fall on them.
struct MonitorArgs {
  int64_t monitor_every = 50;  ///< --monitor-every
};

/// Declares `--monitor-every` (a whole number >= 0).
inline void add_monitor_option(CLI::App& app, MonitorArgs& a) {
  app.add_option("--monitor-every", a.monitor_every,
                 "health monitors (docs/04_joint_embedding.md, Monitors) every N steps, in train.jsonl as mon_* and "
                 "alert_* (a multiple of 50, the log's period, logs each one); 0: off")
      ->check(at_least(0));
}

/// DINO's and iBOT's multi-crop self-distillation (examples 05 and 06): `--local-crops`,
/// `--local-size`, `--teacher-temp` (set with `set_teacher_temperature`, settings.hpp).
struct DistillationArgs {
  int64_t local_crops = 4, local_size = 14;
  double teacher_temp = 0.07;  ///< the teacher's softmax temperature (from 0.04 in epoch 1)
};

/// Declares the self-distillation options of `a`; `method`: DINO or iBOT, which the options
/// apply to; `local_size_help`: the help text of `--local-size`.
inline void add_distillation_options(CLI::App& app, DistillationArgs& a, const std::string& method,
                                     const std::string& local_size_help) {
  app.add_option("--local-crops", a.local_crops, method + ": number of local crops")->check(at_least(0));
  app.add_option("--local-size", a.local_size, method + ": " + local_size_help)->check(at_least(1));
  app.add_option("--teacher-temp", a.teacher_temp,
                 method + ": teacher temperature (default 0.07; warm-up from 0.04 over the first epoch if different)")
      ->check(positive());
}

/// A text corpus read by `ssl::data::read_corpus` (examples 02 and 04): `--corpus`, `--format`,
/// `--field`; an empty `corpus` stands for the fortunes.
struct CorpusArgs {
  std::string corpus;
  std::string format = "auto";  ///< auto | lines | paragraphs | jsonl (| fortunes: example 02)
  std::string field = "text";   ///< JSON Lines field of the text
};

/// Declares the corpus options of `a`; `corpus_help`: the help text of `--corpus`; `fortunes`:
/// whether `--format fortunes` is accepted.
inline void add_corpus_options(CLI::App& app, CorpusArgs& a, const std::string& corpus_help, bool fortunes) {
  std::vector<std::string> formats = {"auto", "lines", "paragraphs", "jsonl"};
  if (fortunes) formats.push_back("fortunes");
  app.add_option("--corpus", a.corpus, corpus_help);
  app.add_option("--format", a.format,
                 "how --corpus is split into documents: auto (.jsonl/.json: jsonl, else lines) | lines (one per line) | "
                 "paragraphs (blank-line separated) | jsonl" + std::string(fortunes ? " | fortunes ('%' lines)" : ""))
      ->check(CLI::IsMember(formats));
  app.add_option("--field", a.field, "JSON Lines field holding the text");
}

/// The `main` of an example: an `Args` from the command line (`add_options(app, a)` declares its
/// options; --help shows their defaults), then `run(a)`, an error ending it with one line on
/// stderr and exit code 1 (`guarded`; also an error a parse-time check throws, e.g. one reading
/// the folder an option names).
template <class Args, class AddOptions, class Run>
int example_main(int argc, char** argv, const std::string& description, AddOptions add_options, Run run) {
  Args a;
  CLI::App app{description};
  app.option_defaults()->always_capture_default();  // --help shows every option's default
  add_options(app, a);
  return guarded([&] {
    CLI11_PARSE(app, argc, argv);
    return run(a);
  });
}

/// The `main` of an example with a table of methods (05, 06): `example_main` with
/// `add_options(app, a, names)` (`names`: the keys of `methods`), running `run(a)` in each of the
/// run's processes (`--procs`; default: 1 with `--device cuda`, else the method's `procs`).
template <class Args, class Methods, class AddOptions, class Run>
int methods_main(int argc, char** argv, const std::string& description, const Methods& methods,
                 AddOptions add_options, Run run) {
  auto add = [&](CLI::App& app, Args& a) {
    std::vector<std::string> names;
    for (const auto& [k, v] : methods) names.push_back(k);
    add_options(app, a, names);
  };
  return example_main<Args>(argc, argv, description, add, [&](Args& a) {
    Launch launch(a.procs > 0 ? a.procs : a.device == "cuda" ? 1 : methods.at(a.method).procs, a.dist, argv);
    return launch.wait(run(a));
  });
}

}  // namespace ex
