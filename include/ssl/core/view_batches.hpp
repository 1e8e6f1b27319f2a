#pragma once
/// \file core/view_batches.hpp
/// Backbone and head over the views of one batch, shared by the student (`Compose::predict`) and
/// a momentum teacher (`target::Teacher`). When the augmenter allows it (`Views::batch_same_size`,
/// set by `augment::MultiCrop` as DINO's multi-crop wrapper does), each run of consecutive views
/// with the same input shape goes through the backbone as one batch (DINO: the two global crops
/// together, the local crops together), and so does the head when it gives one row per sample
/// (DINO's head); the outputs are split back per view. Otherwise every view has its own forward.
/// Same function per sample either way for a backbone without batch statistics (a ViT); with
/// BatchNorm the statistics are those of the joint batch, as in DINO's reference code. Fewer,
/// larger operations: 1.10x per step of example 05's DINO on this project's CPU (docs/benchmarks.md).
#include <ssl/core/types.hpp>

#include <torch/torch.h>

#include <type_traits>
#include <utility>
#include <vector>

namespace ssl {

namespace detail {
inline bool same_definedness_and_shape(const Tensor& a, const Tensor& b) {
  if (a.defined() != b.defined()) return false;
  return !a.defined() || a.sizes() == b.sizes();
}
/// Whether `b` can join `a`'s batch: same input shape, the same mask (defined or not, same shape),
/// and nothing a per-view forward would need besides (no `ids_keep` / `ids_restore` / `proposal_logits` /
/// `blocks`).
inline bool can_share_batch(const Masked& a, const Masked& b) {
  const auto plain = [](const Masked& m) {
    return !m.ids_keep.defined() && !m.ids_restore.defined() && !m.proposal_logits.defined() && !m.blocks.defined();
  };
  return plain(a) && plain(b) && a.input.sizes() == b.input.sizes() && same_definedness_and_shape(a.mask, b.mask);
}
inline Tensor cat_defined(const std::vector<Tensor>& ts) { return ts.front().defined() ? torch::cat(ts, 0) : Tensor(); }
inline std::vector<Tensor> split_defined(const Tensor& t, int64_t parts) {
  if (!t.defined()) return std::vector<Tensor>(static_cast<size_t>(parts));
  return t.chunk(parts, 0);
}
}  // namespace detail

/// The runs `[begin, end)` of consecutive views that go through the backbone together: with
/// `together`, maximal runs of views that can share a batch; otherwise one view each.
inline std::vector<std::pair<size_t, size_t>> view_runs(const std::vector<Masked>& views, bool together) {
  std::vector<std::pair<size_t, size_t>> runs;
  for (size_t i = 0; i < views.size();) {
    size_t j = i + 1;
    while (together && j < views.size() && detail::can_share_batch(views[i], views[j])) ++j;
    runs.emplace_back(i, j);
    i = j;
  }
  return runs;
}

/// The views `[begin, end)` as one batch (inputs and masks concatenated along dim 0).
inline Masked join_views(const std::vector<Masked>& views, size_t begin, size_t end) {
  if (end == begin + 1) return views[begin];
  std::vector<Tensor> inputs, masks;
  for (size_t k = begin; k < end; ++k) {
    inputs.push_back(views[k].input);
    masks.push_back(views[k].mask);
  }
  return Masked{.input = torch::cat(inputs, 0), .mask = detail::cat_defined(masks)};
}

/// Backbone and head over every view: `{head(backbone(v_i), h_i)}` in view order, where the
/// backbone sees `views[i]` and the head `for_head[i]` (the same list for a student; a teacher's
/// head sees the student's masks while its backbone sees whole views). With `together`, each run
/// of views that can share a batch is encoded in one backbone forward; a head that returns a
/// tensor also runs once per run when no view of it is masked (its output is then one row per
/// sample, split back per view), otherwise the head sees each view's part of the features.
template <class B, class H>
auto encode_views(B& backbone, H& head, const std::vector<Masked>& views, const std::vector<Masked>& for_head,
                  bool together) {
  using Out = decltype(head->forward(backbone->forward(views.front()), views.front()));
  TORCH_CHECK(for_head.size() == views.size(), "ssl::encode_views: expected one head input per view (", views.size(),
              "), got ", for_head.size());
  std::vector<Out> out;
  out.reserve(views.size());
  for (const auto& [i, j] : view_runs(views, together)) {
    const auto parts = static_cast<int64_t>(j - i);
    if (parts == 1) {
      out.push_back(head->forward(backbone->forward(views[i]), for_head[i]));
      continue;
    }
    const Masked joint = join_views(views, i, j);
    const Features f = backbone->forward(joint);
    if constexpr (std::is_same_v<Out, Tensor>) {
      bool unmasked = true;
      for (size_t k = i; k < j; ++k) unmasked = unmasked && !for_head[k].mask.defined();
      if (unmasked) {
        auto o = head->forward(f, Masked{.input = joint.input});
        const int64_t rows = joint.input.size(0);
        TORCH_CHECK(o.dim() >= 1 && o.size(0) == rows, "ssl::encode_views: the head gave ", o.sizes(), " for ", parts,
                    " views of ", rows / parts, " samples; expected one row per sample (", rows, " rows)");
        for (auto& t : o.chunk(parts, 0)) out.push_back(std::move(t));
        continue;
      }
    }
    auto tokens = detail::split_defined(f.tokens, parts), pooled = detail::split_defined(f.pooled, parts),
         local = detail::split_defined(f.local, parts);
    std::vector<std::vector<Tensor>> layers(static_cast<size_t>(parts));  // [view][block]
    for (const auto& l : f.layers) {
      auto chunks = detail::split_defined(l, parts);
      for (size_t k = 0; k < layers.size(); ++k) layers[k].push_back(std::move(chunks[k]));
    }
    for (size_t k = 0; k < j - i; ++k)
      out.push_back(head->forward(
          Features{.tokens = tokens[k], .pooled = pooled[k], .layers = std::move(layers[k]), .local = local[k]}, for_head[i + k]));
  }
  return out;
}

}  // namespace ssl
