#pragma once
/// \file nn/transformer.hpp
/// The one Transformer block of libssl. It serves BERT and ELECTRA (post-norm), GPT (causal),
/// and every ViT: the MAE encoder and decoder, DINO/BYOL/iBOT students and teachers.
///
/// Attention goes through `at::scaled_dot_product_attention` (flash / memory-efficient kernels
/// where the device has them). Parameter names follow timm's ViT (`norm1`, `attn.qkv`,
/// `attn.proj`, `norm2`, `mlp.fc1`, `mlp.fc2`); `io/hf.hpp` maps Hugging Face names onto them.
#include <ssl/core/check.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ssl::nn {

using torch::Tensor;

/// Options of one block. Example: `BlockOptions(128, 4).mlp_hidden(512).norm_first(true)`.
struct BlockOptions {
  /// A block of width `dim` with `heads` attention heads and an MLP of 4 x dim.
  BlockOptions(int64_t dim, int64_t heads) : dim_(dim), heads_(heads), mlp_hidden_(4 * dim) {}
  TORCH_ARG(int64_t, dim);  ///< width of the tokens
  TORCH_ARG(int64_t, heads);  ///< attention heads (must divide dim)
  TORCH_ARG(int64_t, mlp_hidden);  ///< the MLP's hidden width
  /// Pre-norm (ViT, GPT) when true; post-norm (original BERT) when false.
  TORCH_ARG(bool, norm_first) = true;
  TORCH_ARG(double, eps) = 1e-6;  ///< LayerNorm epsilon
  TORCH_ARG(bool, qkv_bias) = true;  ///< bias in the fused q, k, v projection
  /// Causal self-attention (GPT): position i attends to positions <= i.
  TORCH_ARG(bool, causal) = false;
  TORCH_ARG(double, dropout) = 0.0;  ///< dropout on the attention's and the MLP's outputs (training only)
  TORCH_ARG(double, attn_dropout) = 0.0;  ///< dropout on the attention probabilities (training only)
  /// GELU of the MLP: exact (`"none"`: BERT, ViT) or `"tanh"` approximation (GPT-2's gelu_new).
  TORCH_ARG(std::string, gelu) = "none";
};

/// Checks `o` before anything divides by it: a positive width, heads > 0 that divide it, a
/// positive MLP width. `who` names the caller in the message.
inline void check_block_options(const BlockOptions& o, const char* who) {
  TORCH_CHECK(o.dim() > 0, who, ": BlockOptions::dim (the token width) must be positive, got ", o.dim());
  TORCH_CHECK(o.heads() > 0, who, ": BlockOptions::heads (attention heads) must be positive, got ", o.heads());
  TORCH_CHECK(o.dim() % o.heads() == 0, who, ": BlockOptions::dim (", o.dim(),
              ") must be divisible by BlockOptions::heads (", o.heads(), ")");
  TORCH_CHECK(o.mlp_hidden() > 0, who, ": BlockOptions::mlp_hidden (the MLP's hidden width) must be positive, got ",
              o.mlp_hidden());
}

/// Multi-head self-attention with a fused qkv projection.
class AttentionImpl : public torch::nn::Cloneable<AttentionImpl> {
 public:
  /// The attention of a block with `options`.
  explicit AttentionImpl(BlockOptions options) : options(std::move(options)) { reset(); }

  /// Builds the parameters and submodules from the options, initialised (`clone()` calls it too).
  void reset() override {
    check_block_options(options, "nn::Attention");
    qkv = register_module(
        "qkv", torch::nn::Linear(torch::nn::LinearOptions(options.dim(), 3 * options.dim())
                                     .bias(options.qkv_bias())));
    proj = register_module("proj", torch::nn::Linear(options.dim(), options.dim()));
  }

  /// `x`: `[B,N,D]`. `keep`: optional `[B,N]` bool key mask (`true` = may be attended, e.g. not
  /// padding). Returns `[B,N,D]`.
  Tensor forward(const Tensor& x, const std::optional<Tensor>& keep = std::nullopt) {
    const auto B = x.size(0), N = x.size(1), D = x.size(2), H = options.heads();
    // [B,N,3,H,hd] -> [3,B,H,N,hd]
    auto qkv_ = qkv(x).view({B, N, 3, H, D / H}).permute({2, 0, 3, 1, 4});
    auto q = qkv_[0], k = qkv_[1], v = qkv_[2];
    std::optional<Tensor> mask;
    if (keep) mask = keep->view({B, 1, 1, N});
    const double p = is_training() ? options.attn_dropout() : 0.0;
    auto o = at::scaled_dot_product_attention(q, k, v, mask, p, options.causal());
    return proj(o.transpose(1, 2).reshape({B, N, D}));
  }

  /// The attention probabilities `softmax(q k^T / sqrt(hd))`, `[B,H,N,N]` (what `forward`
  /// computes inside SDPA; for pictures such as DINO's attention maps). Bidirectional, no mask.
  Tensor weights(const Tensor& x) {
    const auto B = x.size(0), N = x.size(1), D = x.size(2), H = options.heads();
    auto qkv_ = qkv(x).view({B, N, 3, H, D / H}).permute({2, 0, 3, 1, 4});
    return torch::softmax(qkv_[0].matmul(qkv_[1].transpose(-2, -1)) / std::sqrt(double(D / H)), -1);
  }

  BlockOptions options;  ///< what it was built from
  torch::nn::Linear qkv{nullptr};   ///< dim -> 3 x dim: q, k, v of every head
  torch::nn::Linear proj{nullptr};  ///< dim -> dim output projection
};
TORCH_MODULE(Attention);

/// Two-layer MLP with GELU (exact, or `gelu = "tanh"` for the tanh approximation).
class MlpImpl : public torch::nn::Cloneable<MlpImpl> {
 public:
  /// `dim` -> `hidden` -> GELU -> `dim`; `gelu`: "none" (exact) or "tanh".
  MlpImpl(int64_t dim, int64_t hidden, std::string gelu = "none") : dim(dim), hidden(hidden), gelu(std::move(gelu)) {
    TORCH_CHECK(this->gelu == "none" || this->gelu == "tanh", "Mlp: gelu must be \"none\" (exact) or \"tanh\", got \"",
                this->gelu, "\"");
    reset();
  }
  /// Builds the parameters and submodules from the options, initialised (`clone()` calls it too).
  void reset() override {
    fc1 = register_module("fc1", torch::nn::Linear(dim, hidden));
    fc2 = register_module("fc2", torch::nn::Linear(hidden, dim));
  }
  /// `x` `[..., dim]` -> `fc2(gelu(fc1(x)))` `[..., dim]`.
  Tensor forward(const Tensor& x) { return fc2(torch::gelu(fc1(x), gelu)); }

  int64_t dim;     ///< input and output width
  int64_t hidden;  ///< hidden width
  std::string gelu;  ///< "none" (exact) or "tanh"
  torch::nn::Linear fc1{nullptr};  ///< dim -> hidden
  torch::nn::Linear fc2{nullptr};  ///< hidden -> dim
};
TORCH_MODULE(Mlp);

/// One Transformer block, pre-norm or post-norm.
class BlockImpl : public torch::nn::Cloneable<BlockImpl> {
 public:
  /// A block with `options`.
  explicit BlockImpl(BlockOptions options) : options(std::move(options)) { reset(); }

  /// Builds the parameters and submodules from the options, initialised (`clone()` calls it too).
  void reset() override {
    check_block_options(options, "nn::Block");
    auto ln = [&] {
      return torch::nn::LayerNorm(
          torch::nn::LayerNormOptions({options.dim()}).eps(options.eps()));
    };
    norm1 = register_module("norm1", ln());
    attn = register_module("attn", Attention(options));
    norm2 = register_module("norm2", ln());
    mlp = register_module("mlp", Mlp(options.dim(), options.mlp_hidden(), options.gelu()));
  }

  /// `x` `[B,N,D]` through attention and MLP with residuals (pre- or post-norm); `keep`: optional
  /// `[B,N]` bool key mask as `Attention::forward`. Returns `[B,N,D]`.
  Tensor forward(const Tensor& x, const std::optional<Tensor>& keep = std::nullopt) { return forward_ffn(x, keep).first; }

  /// `forward`, and the MLP's output before its residual (and, post-norm, before `norm2`):
  /// `{block output, mlp output}`, both `[B,N,D]`. The second is data2vec's target of a block
  /// (its `ffn_targets`: "the output of the feed-forward network prior to the last residual").
  std::pair<Tensor, Tensor> forward_ffn(const Tensor& x, const std::optional<Tensor>& keep = std::nullopt) {
    if (options.norm_first()) {
      auto h = x + drop(attn(norm1(x), keep));
      auto f = mlp(norm2(h));
      return {h + drop(f), f};
    }
    auto h = norm1(x + drop(attn(x, keep)));
    auto f = mlp(h);
    return {norm2(h + drop(f)), f};
  }

  BlockOptions options;  ///< what it was built from
  torch::nn::LayerNorm norm1{nullptr};  ///< before (pre-norm) or after (post-norm) the attention
  torch::nn::LayerNorm norm2{nullptr};  ///< before (pre-norm) or after (post-norm) the MLP
  Attention attn{nullptr};  ///< self-attention
  Mlp mlp{nullptr};  ///< the MLP

 private:
  Tensor drop(const Tensor& x) {
    return options.dropout() > 0 ? torch::dropout(x, options.dropout(), is_training()) : x;
  }
};
TORCH_MODULE(Block);

namespace detail {
/// Activation checkpointing of one block: forward runs without recording (only the block's
/// input is kept); backward re-runs the block with the forward's RNG state (same dropout) and
/// differentiates it. Inputs: the block, the key mask, the input, the block's parameters.
struct CheckpointedBlock : torch::autograd::Function<CheckpointedBlock> {
  static Tensor forward(torch::autograd::AutogradContext* ctx, BlockImpl* block, const std::optional<Tensor>& keep,
                        const Tensor& x, at::TensorList params) {
    ctx->saved_data["block"] = static_cast<int64_t>(reinterpret_cast<intptr_t>(block));
    ctx->saved_data["has_keep"] = keep.has_value() && keep->defined();
    ctx->saved_data["cpu_rng"] = at::detail::getDefaultCPUGenerator().get_state();
    if (!x.is_cpu()) ctx->saved_data["device_rng"] = at::globalContext().defaultGenerator(x.device()).get_state();
    ctx->save_for_backward({x, keep.value_or(Tensor())});
    return block->forward(x, keep);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto* block = reinterpret_cast<BlockImpl*>(static_cast<intptr_t>(ctx->saved_data["block"].toInt()));
    const auto saved = ctx->get_saved_variables();
    std::optional<Tensor> keep;
    if (ctx->saved_data["has_keep"].toBool()) keep = saved[1];
    const auto x = saved[0].detach().requires_grad_(saved[0].requires_grad());
    // Replay the forward's random numbers, then put the generators back where backward found them.
    auto cpu = at::detail::getDefaultCPUGenerator();
    const auto cpu_now = cpu.get_state();
    cpu.set_state(ctx->saved_data["cpu_rng"].toTensor());
    std::optional<at::Generator> dev;
    Tensor dev_now;
    if (!x.is_cpu()) {
      dev = at::globalContext().defaultGenerator(x.device());
      dev_now = dev->get_state();
      dev->set_state(ctx->saved_data["device_rng"].toTensor());
    }
    Tensor y;
    {
      torch::AutoGradMode on(true);
      y = block->forward(x, keep);
    }
    cpu.set_state(cpu_now);
    if (dev) dev->set_state(dev_now);
    std::vector<Tensor> wrt;
    std::vector<size_t> slot;  // position in the returned list
    const auto params = block->parameters();
    if (x.requires_grad()) wrt.push_back(x), slot.push_back(2);
    for (size_t i = 0; i < params.size(); ++i)
      if (params[i].requires_grad()) wrt.push_back(params[i]), slot.push_back(3 + i);
    torch::autograd::variable_list out(3 + params.size());
    if (wrt.empty()) return out;
    const auto g = torch::autograd::grad({y}, wrt, {grad_out[0]}, /*retain_graph=*/false, /*create_graph=*/false,
                                         /*allow_unused=*/true);
    for (size_t k = 0; k < wrt.size(); ++k) out[slot[k]] = g[k];
    return out;
  }
};
}  // namespace detail

/// Options of a stack of identical blocks.
struct StackOptions {
  /// `depth` blocks of width `dim` with `heads` heads (the blocks' other options: `block(...)`).
  StackOptions(int64_t dim, int64_t depth, int64_t heads) : block_(dim, heads), depth_(depth) {}
  TORCH_ARG(BlockOptions, block);  ///< every block's options
  TORCH_ARG(int64_t, depth);  ///< number of blocks
  /// Activation checkpointing: when training with gradients, keep only each block's input and
  /// recompute the block in backward (memory per block ~ one activation, ~1/3 more compute).
  TORCH_ARG(bool, checkpoint) = false;
};

/// `depth` blocks applied in order; registered as `0`, `1`, ... (so a ViT's are `blocks.0...`).
class StackImpl : public torch::nn::Cloneable<StackImpl> {
 public:
  /// A stack with `options`.
  explicit StackImpl(StackOptions options) : options(std::move(options)) { reset(); }
  /// Builds the parameters and submodules from the options, initialised (`clone()` calls it too).
  void reset() override {
    TORCH_CHECK(options.depth() >= 0, "nn::Stack: StackOptions::depth (the number of blocks) must be >= 0, got ",
                options.depth());
    check_block_options(options.block(), "nn::Stack");
    blocks.clear();
    for (int64_t i = 0; i < options.depth(); ++i)
      blocks.push_back(register_module(std::to_string(i), Block(options.block())));
  }
  /// `x` `[B,N,D]` through every block in order (checkpointed when `checkpoint` is on and
  /// gradients are recorded); `keep`: optional `[B,N]` key mask. Returns `[B,N,D]`.
  Tensor forward(Tensor x, const std::optional<Tensor>& keep = std::nullopt) {
    const bool ckpt = options.checkpoint() && is_training() && torch::GradMode::is_enabled();
    for (auto& b : blocks) {
      if (ckpt) {
        const auto params = b->parameters();
        x = detail::CheckpointedBlock::apply(b.get(), keep, x, at::TensorList(params));
      } else {
        x = b->forward(x, keep);
      }
    }
    return x;
  }
  /// `forward` without checkpointing, and every block's MLP output before its residual
  /// (`Block::forward_ffn`), oldest first: `{output, [depth] x [B,N,D]}` (data2vec's targets).
  std::pair<Tensor, std::vector<Tensor>> forward_ffn(Tensor x, const std::optional<Tensor>& keep = std::nullopt) {
    std::vector<Tensor> ffn;
    ffn.reserve(blocks.size());
    for (auto& b : blocks) {
      auto [y, f] = b->forward_ffn(x, keep);
      x = std::move(y);
      ffn.push_back(std::move(f));
    }
    return {x, std::move(ffn)};
  }
  /// The i-th block (for hooks, probes and layer-wise learning-rate decay).
  Block& block(int64_t i) { return blocks.at(static_cast<size_t>(i)); }

  StackOptions options;  ///< what it was built from
  std::vector<Block> blocks;  ///< the blocks, in order
};
TORCH_MODULE(Stack);

/// Initialisation used by MAE, DINO and timm's ViT: xavier-uniform linear weights, zero biases,
/// unit LayerNorm.
/// The fused qkv projection is initialised as three separate [D,D] matrices would be.
inline void init_vit_weights(torch::nn::Module& m) {
  torch::NoGradGuard g;
  for (auto& item : m.named_modules("", /*include_self=*/false)) {
    auto& mod = item.value();
    if (auto* lin = mod->as<torch::nn::LinearImpl>()) {
      const auto& k = item.key();
      if (k.size() >= 3 && k.compare(k.size() - 3, 3, "qkv") == 0) {
        const double bound =
            std::sqrt(6.0 / double(lin->weight.size(0) / 3 + lin->weight.size(1)));
        lin->weight.uniform_(-bound, bound);
      } else {
        torch::nn::init::xavier_uniform_(lin->weight);
      }
      if (lin->bias.defined()) lin->bias.zero_();
    } else if (auto* ln = mod->as<torch::nn::LayerNormImpl>()) {
      if (ln->weight.defined()) ln->weight.fill_(1.0);
      if (ln->bias.defined()) ln->bias.zero_();
    }
  }
}

}  // namespace ssl::nn
