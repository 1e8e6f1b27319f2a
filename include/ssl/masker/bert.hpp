#pragma once
/// \file masker/bert.hpp
/// BERT's masked-language-model corruption (Devlin et al., 2019, section 3.1): each non-special
/// token is selected with probability `ratio` (15 %); a selected token becomes `[MASK]` with
/// probability 80 %, a random non-special token with 10 %, and stays unchanged with 10 %. The
/// loss is computed at the selected positions only (`Masked::mask`).
///
/// Dynamic masking (RoBERTa): a new draw every time a sequence is seen, from the batch device's
/// default generator (so a resumed run replays it). Static masking (original BERT): the draw is a
/// function of the sequence's content and `seed`, so a sequence is masked the same way in every
/// epoch.
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>
#include <ssl/dist/collective.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace ssl::masker {

/// Example: `masker::Bert{.vocab_size = 8000, .mask_id = 4, .special_ids = {0, 1, 2, 3, 4}}`
/// (or `masker::Bert::for_vocab(vocab)` with a `text::Vocab`).
struct Bert {
  int64_t vocab_size = 0;  ///< ids are in [0, vocab_size), replacements its non-special ids (required)
  int64_t mask_id = -1;    ///< the `[MASK]` id, in [0, vocab_size) (required)
  /// Never selected, never drawn as random replacements: `[PAD] [UNK] [CLS] [SEP] [MASK]`.
  std::vector<int64_t> special_ids;
  double ratio = 0.15;       ///< probability that a non-special token is selected, in (0, 1)
  double mask_prob = 0.8;    ///< of the selected: -> [MASK]
  double random_prob = 0.1;  ///< of the selected: -> random token (the rest stay unchanged)
  bool dynamic = true;       ///< a new draw every time (RoBERTa); false: static, a function of the ids and `seed`
  uint64_t seed = 0;  ///< static masking only

  /// Filled from a BERT vocabulary (`text::Vocab`: `size()` and the five special ids).
  template <class V>
  static Bert for_vocab(const V& vocab, bool dynamic = true) {
    return Bert{.vocab_size = static_cast<int64_t>(vocab.size()),
                .mask_id = vocab.mask_id(),
                .special_ids = {vocab.pad_id(), vocab.unk_id(), vocab.cls_id(), vocab.sep_id(), vocab.mask_id()},
                .dynamic = dynamic};
  }

  /// Throws unless `ids` is `[B,N]` int64 and the options are consistent (`vocab_size`,
  /// `mask_id` set, probabilities in range).
  void check(const torch::Tensor& ids) const {
    ssl::detail::check_dim(ids, 2, "masker::Bert", "token ids [B,N]");
    TORCH_CHECK(ids.scalar_type() == torch::kInt64, "masker::Bert: expected int64 token ids, got ", ids.scalar_type());
    TORCH_CHECK(vocab_size > 0 && mask_id >= 0 && mask_id < vocab_size, "masker::Bert: expected vocab_size > 0 and ",
                "mask_id in [0, vocab_size); got vocab_size ", vocab_size, ", mask_id ", mask_id);
    TORCH_CHECK(ratio > 0 && ratio < 1 && mask_prob >= 0 && random_prob >= 0 && mask_prob + random_prob <= 1,
                "masker::Bert: expected ratio in (0,1) and mask_prob + random_prob <= 1; got ratio ", ratio,
                ", mask_prob ", mask_prob, ", random_prob ", random_prob);
  }

  /// `[B,N]` bool: may be selected (not a special token).
  [[nodiscard]] torch::Tensor eligible(const torch::Tensor& ids) const {
    auto ok = torch::ones_like(ids, ids.options().dtype(torch::kBool));
    for (auto s : special_ids) ok &= ids != s;
    return ok;
  }

  /// The ids random replacements are drawn from (every non-special id).
  [[nodiscard]] torch::Tensor replacement_pool(torch::Device device) const {
    auto keep = torch::ones({vocab_size}, torch::kBool);
    for (auto s : special_ids)
      if (s >= 0 && s < vocab_size) keep[s] = false;
    auto pool = torch::arange(vocab_size).index({keep});
    TORCH_CHECK(pool.numel() > 0, "masker::Bert: every id of the vocabulary is special");
    return pool.to(device);
  }

  /// Corrupts token ids `[B,N]`: `{.input = corrupted ids, .mask = selected [B,N] bool}`, with
  /// dynamic or static draws (see the file comment).
  Masked operator()(const torch::Tensor& ids) const {
    check(ids);
    const auto f32 = ids.options().dtype(torch::kFloat32);
    torch::Tensor u_select, u_action, u_token;
    if (dynamic) {
      u_select = dist::rand(ids.sizes(), f32);
      u_action = dist::rand(ids.sizes(), f32);
      u_token = dist::rand(ids.sizes(), f32);
    } else {
      // One generator per sequence, seeded by its content: the same sequence, the same mask.
      auto cpu = ids.to(torch::kCPU).contiguous();
      const auto B = cpu.size(0), N = cpu.size(1);
      u_select = torch::empty({B, N});
      u_action = torch::empty({B, N});
      u_token = torch::empty({B, N});
      const auto* p = cpu.data_ptr<int64_t>();
      for (int64_t b = 0; b < B; ++b) {
        uint64_t h = 1469598103934665603ULL ^ seed;  // FNV-1a over the ids
        for (int64_t i = 0; i < N; ++i) {
          h ^= static_cast<uint64_t>(p[b * N + i]);
          h *= 1099511628211ULL;
        }
        auto gen = at::make_generator<at::CPUGeneratorImpl>(h);
        u_select[b].copy_(torch::rand({N}, gen));
        u_action[b].copy_(torch::rand({N}, gen));
        u_token[b].copy_(torch::rand({N}, gen));
      }
      u_select = u_select.to(ids.device());
      u_action = u_action.to(ids.device());
      u_token = u_token.to(ids.device());
    }
    return with_noise(ids, u_select, u_action, u_token);
  }

  /// The corruption for given uniform draws in [0,1) (`[B,N]` each): selected where
  /// `u_select < ratio`; `[MASK]` where `u_action < mask_prob`, random where it is below
  /// `mask_prob + random_prob` (the token `pool[floor(u_token * |pool|)]`).
  Masked with_noise(const torch::Tensor& ids, const torch::Tensor& u_select, const torch::Tensor& u_action,
                    const torch::Tensor& u_token) const {
    check(ids);
    auto selected = (u_select < ratio) & eligible(ids);
    auto to_mask = selected & (u_action < mask_prob);
    auto to_random = selected & (u_action >= mask_prob) & (u_action < mask_prob + random_prob);
    auto pool = replacement_pool(ids.device());
    auto pick = (u_token * double(pool.numel())).to(torch::kInt64).clamp_max(pool.numel() - 1);
    auto random_ids = pool.index({pick});
    auto corrupted = torch::where(to_mask, torch::full_like(ids, mask_id), ids);
    corrupted = torch::where(to_random, random_ids, corrupted);
    return Masked{.input = corrupted, .mask = selected};
  }
};

}  // namespace ssl::masker
