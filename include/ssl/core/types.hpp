#pragma once
/// \file core/types.hpp
/// The value types that flow between the six concepts (see concepts.hpp).
#include <torch/torch.h>

#include <range/v3/range/conversion.hpp>
#include <range/v3/view/concat.hpp>

#include <string>
#include <utility>
#include <vector>

namespace ssl {

using torch::Tensor;

/// A labelled or unlabelled batch as the data path gives it (`target` may be undefined).
struct Batch {
  Tensor input;   ///< the inputs: images `[B,C,H,W]` or token ids `[B,N]`
  Tensor target;  ///< the labels (class ids `[B]`, token labels `[B,N]`, ...), undefined when unlabelled
};

/// What a `Masker` gives: the (possibly corrupted) input and which positions the objective hides.
///  - `input`:       what the backbone sees. Images: the clean `[B,C,H,W]` batch (patch masking is
///                   applied inside the backbone through `ids_keep`). Tokens: `[B,N]` with
///                   replacements already made (BERT's [MASK]/random/keep).
///  - `mask`:        `[B,N]` bool, `true` = hidden from the model (the loss is computed there).
///                   Undefined when the masker hides nothing (`masker::None`).
///  - `ids_keep`:    `[B,K]` int64, the positions the backbone encodes, in encoding order
///                   (undefined = all positions).
///  - `ids_restore`: `[B,N]` int64, inverse permutation that puts encoded + mask tokens back in
///                   place (undefined when `ids_keep` is).
///  - `proposal_logits`: a masker that is itself a model (ELECTRA's generator) fills it with its
///                   logits `[M, vocab]` at the M hidden positions, for the loss to train it;
///                   undefined for every other masker.
///  - `blocks`:      `[B, G, M]` int64, the hidden positions as G groups of M that are predicted
///                   apart (I-JEPA's target blocks, masker/multi_block.hpp); undefined for every
///                   other masker (all hidden positions are one group).
struct Masked {
  Tensor input;            ///< what the backbone sees (see above)
  Tensor mask;             ///< `[B,N]` bool, `true` = hidden (undefined: nothing hidden)
  Tensor ids_keep;         ///< `[B,K]` int64, the positions encoded (undefined: all)
  Tensor ids_restore;      ///< `[B,N]` int64, the inverse permutation of `ids_keep`
  Tensor proposal_logits;  ///< `[M, vocab]`: the masking model's logits at the hidden positions
  Tensor blocks;           ///< `[B, G, M]` int64: the hidden positions in G groups predicted apart
};

/// What an `Augmenter` gives: `global` views (seen by the student and, for teacher methods, by
/// the teacher) and `local` views (student only, e.g. DINO's small crops). `augment::Identity`
/// gives one global view: the batch itself.
struct Views {
  std::vector<Tensor> global;  ///< the global views, each `[B,...]` (student and teacher)
  std::vector<Tensor> local;   ///< the local views, each `[B,...]` (student only; often empty)
  /// The batch's labels when the data carries them (BERT's next-sentence labels), else undefined.
  /// Set by `Compose` from `Batch::target`, for targets that need them.
  Tensor labels;
  /// Whether consecutive views of the same shape may go through the backbone as one batch
  /// (core/view_batches.hpp). `augment::MultiCrop` sets it (DINO's multi-crop wrapper: the
  /// global crops together, the local crops together); the two-view augmenters leave it off,
  /// so a BatchNorm backbone keeps per-view statistics there, as in lightly's recipes.
  bool batch_same_size = false;

  /// All views in student order: globals first, then locals.
  [[nodiscard]] std::vector<Tensor> all() const {
    return ranges::views::concat(global, local) | ranges::to<std::vector>();
  }
};

/// What a `Backbone` gives.
///  - `tokens`: `[B,T,D]` every output token (for a ViT: CLS first, then the encoded patches).
///  - `pooled`: `[B,D]` one vector per sample (CLS token or mean of the patch tokens).
///  - `layers`: each Transformer block's MLP output before its residual, oldest first, `[B,T,D]`
///    each (data2vec's targets); filled only by a backbone asked for them
///    (`vit::Options::layer_outputs`), else empty.
///  - `local`: `[B,T,C]` the local features the context network starts from, before any masking
///    (wav2vec 2.0's layer-normed convolutional features, its quantiser's input); undefined for
///    backbones without such a stage.
struct Features {
  Tensor tokens;  ///< `[B,T,D]` every output token
  Tensor pooled;  ///< `[B,D]` one vector per sample
  std::vector<Tensor> layers;  ///< `[B,T,D]` each block's MLP output (when asked for), oldest first
  Tensor local;   ///< `[B,T,C]` the unmasked local features before the context network, or undefined
};

/// What a head may return instead of a single tensor: its main output and, by name, the extra
/// outputs some objectives score. A head fills the ones it computes and leaves the others
/// undefined; a loss or target that needs one checks it is there and names the head it expects.
struct HeadOutput {
  /// The main output, scored against the target (logits, embeddings, predictions).
  Tensor out;
  /// `[B, 2]` next-sentence logits of the pooled token (BERT's pretraining head, `heads::LmHead`).
  Tensor sentence;
  /// `[M, K]` outputs of the M patch tokens the masker hid (iBOT's patch head, `heads::IBOTHead`).
  Tensor patches;
  /// `[B, D]` the projector's output before the predictor (BYOL, SimSiam, MoCo v3:
  /// `heads::ProjectPredict`), the embedding the other view's target is built from.
  Tensor projection;
  /// `[B, N, P]` the quantised local features at every position, projected: what the main output
  /// must identify among distractors (wav2vec 2.0: `heads::QuantizedContext`).
  Tensor codes;
  /// Scalar: the quantiser's codebook-diversity penalty, 1 - perplexity / entries over the hidden
  /// positions (wav2vec 2.0's diversity loss per position: `heads::QuantizedContext`).
  Tensor diversity;
};

/// The student's side of one step: one prediction per student view (same order as
/// `Views::all()`), the masking applied to each view, and the heads' extra outputs per view.
struct Prediction {
  /// The head's main output of each student view.
  std::vector<Tensor> views;
  /// The masking applied to each student view.
  std::vector<Masked> masked;
  /// The head's named extra outputs of each student view: `extra[i].out` is undefined (it is
  /// `views[i]`), and so is every field when the head returns a plain tensor.
  std::vector<HeadOutput> extra;
};

/// \name What a `Target` gives and a `Loss` accepts
/// One type per meaning: a Target produces one of them, a Loss names the one it scores, and
/// `ssl::Compose` refuses at compile time a Target and a Loss that do not agree (concepts.hpp:
/// `ssl::LossAccepts`). A new objective may define its own type: any copyable struct works.
/// @{

/// What each student view's prediction is compared with, in student order: `views[i]` goes with
/// `Prediction::views[i]` (the other view's embedding: SimCLR, Barlow Twins, VICReg, SimSiam, and
/// the momentum teacher's with cross pairing: BYOL, MoCo v3). See loss/pairwise.hpp.
struct PairedEmbeddings {
  std::vector<Tensor> views;  ///< `[B, D]` the embedding each student view is compared with
};

/// Each student view's pixels, patchified: `views[i]` is `[B, N, p*p*C]` (MAE's target).
struct PixelPatches {
  std::vector<Tensor> views;  ///< `[B, N, p*p*C]` the patchified pixels of each student view
};

/// A momentum teacher's output `[B, K]` of each global view (DINO: every student view is scored
/// against every teacher view but its own).
struct TeacherOutputs {
  std::vector<Tensor> global;  ///< `[B, K]` the teacher's output of each global view
};

/// A momentum teacher's outputs of each global view, and of its patches: `patches[i]` is
/// `[M_i, K]`, the teacher's patch outputs at the M_i positions the student's masker hid in
/// global view i (iBOT's "online tokenizer").
struct TeacherTokenOutputs {
  std::vector<Tensor> global;   ///< `[B, K]` the teacher's output of each global view
  std::vector<Tensor> patches;  ///< `[M_i, K]` its outputs at the patches hidden in global view i
};

/// Integer class labels for cross-entropy, -100 where nothing is scored: `tokens` `[B, N]` for
/// the head's main output (BERT's and BEiT's masked positions, GPT's next tokens), and the
/// batch's sentence labels `[B]` for the head's extra output when the head has one (BERT's
/// next-sentence prediction; undefined otherwise).
struct TokenLabels {
  Tensor tokens;    ///< `[B, N]` int64 labels of the head's main output, -100 = not scored
  Tensor sentence;  ///< `[B]` int64 next-sentence labels, or undefined
};

/// ELECTRA's targets: the generator's MLM labels `[B, N]` (-100 where not masked), whether each
/// token the discriminator saw was replaced (`[B, N]` float), and which positions count (`[B, N]`
/// bool: not padding).
struct ReplacedTokenLabels {
  Tensor generator;  ///< `[B, N]` int64 the generator's MLM labels, -100 where not masked
  Tensor replaced;   ///< `[B, N]` float, 1 where the discriminator's input token was replaced
  Tensor valid;      ///< `[B, N]` bool, the positions that count (not padding)
};
/// Contrastive candidates at the M hidden positions of a view: each hidden position's true code is
/// the code at that position, its K distractors the codes at K other hidden positions of the same
/// sample (wav2vec 2.0: `target::Distractors`). Positions are flat indices into `[B * N]`,
/// the hidden ones in row-major order of the view's `[B, N]` mask.
struct CodeCandidates {
  Tensor codes;      ///< `[B, N, P]` the code of every position (`HeadOutput::codes`)
  Tensor positions;  ///< `[M]` int64 the hidden positions
  Tensor negatives;  ///< `[M, K]` int64 the distractors' positions, in the same sample as their row's
  Tensor diversity;  ///< scalar: the head's codebook-diversity penalty (`HeadOutput::diversity`), or undefined
};
/// @}

/// What a `Loss` gives: the scalar to minimise and named parts for logging (detached).
struct LossOutput {
  Tensor loss;  ///< the scalar to minimise
  /// Named scalar terms for logging, detached (e.g. `{"invariance", ...}`); may be empty.
  std::vector<std::pair<std::string, Tensor>> parts;
};

/// Where the training is: passed to teacher updates, schedules and hooks.
struct StepInfo {
  int64_t step = 0;         ///< optimizer steps done before this one
  int64_t total_steps = 1;  ///< planned optimizer steps of the run
  int64_t epoch = 0;            ///< the current epoch, counted from 0
  int64_t steps_per_epoch = 1;  ///< optimizer steps per epoch (epoch-based schedules convert with it)
};

/// The hooks a part may declare (`static constexpr unsigned hooks`).
namespace hook {
inline constexpr unsigned none = 0;             ///< no hook
inline constexpr unsigned step = 1u << 0;       ///< `set_step(const StepInfo&)`: see `ssl::StepAware`
inline constexpr unsigned teacher = 1u << 1;    ///< a Target with a teacher: see `ssl::OwnsTeacher`
inline constexpr unsigned view_kind = 1u << 2;  ///< a Masker told which views are global: see `ssl::MasksByViewKind`
}  // namespace hook

}  // namespace ssl
