#pragma once
/// \file data/audio_folder.hpp
/// Audio files on disk as a `SampleDataset`: WAV, FLAC and OGG files decoded by libsndfile in the
/// loader's workers (io/audio.hpp), mixed down to mono and cut or padded to one length, float32
/// `[length]`. Needs libssl's `audio` component.
#include <ssl/data/dataset.hpp>
#include <ssl/data/files.hpp>
#include <ssl/io/audio.hpp>

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <utility>
#include <vector>

namespace ssl::data {

/// How `AudioFolder` turns a file into a sample. `length` is required.
/// Example: `ssl::data::AudioFolderOptions{.rate = 16000, .length = 16000}` (1 s clips).
struct AudioFolderOptions {
  /// The sample rate every file must have, in Hz; a file at another rate is refused, naming it
  /// (no resampling: convert the files first, e.g. `sox in.wav -r 16000 out.wav`).
  int64_t rate = 16000;
  /// Samples per clip (required, > 0): a longer file is center-cropped, a shorter one zero-padded
  /// at its end.
  int64_t length = 0;
  /// Zero mean and unit variance over the clip's own samples, before padding: (x - mean) /
  /// sqrt(var + 1e-7), as Hugging Face's `Wav2Vec2FeatureExtractor(do_normalize=True)`.
  bool normalize = true;
};

/// One clip of `length` samples from a mono signal `[frames]`: the central `length` samples of a
/// longer one (offset (frames - length) / 2, rounded down), the whole of a shorter one followed by
/// zeros; with `normalize`, the kept samples are first brought to zero mean and unit variance,
/// (x - mean) / sqrt(var + 1e-7) with the population variance, so the padding stays 0. float32 `[length]`.
inline torch::Tensor fit_clip(const torch::Tensor& mono, int64_t length, bool normalize) {
  TORCH_CHECK(mono.dim() == 1 && mono.size(0) > 0 && mono.is_floating_point(),
              "fit_clip: expected a float signal [frames], frames > 0, got ", mono.scalar_type(), " ", mono.sizes());
  TORCH_CHECK(length > 0, "fit_clip: expected length > 0, got ", length);
  const int64_t n = mono.size(0);
  auto x = (n > length ? mono.narrow(0, (n - length) / 2, length) : mono).to(torch::kFloat64);
  if (normalize) {
    const auto mean = x.mean();
    x = (x - mean) / ((x - mean).square().mean() + 1e-7).sqrt();
  }
  x = x.to(torch::kFloat32);
  if (x.size(0) < length) x = torch::constant_pad_nd(x, {0, length - x.size(0)}, 0);
  return x.contiguous();
}

/// Audio files as a labelled or unlabelled `SampleDataset` of float32 `[length]`.
/// Smallest use: `ssl::data::AudioFolder speech("my/speech", {.length = 16000});`
///
/// `source` is a folder of class folders (sorted names are the labels), a flat folder (unlabelled)
/// or a list file (unlabelled), found as `FileSet` describes; in folders, files ending .wav, .flac
/// or .ogg (any case) are audio, other files and names starting with '.' are ignored. A sample is:
/// decode (io::read_audio), refuse a rate other than `rate`, mix the channels down to their mean,
/// then `fit_clip` (center crop or zero-pad to `length`, normalised first). `get` is safe from
/// several threads.
class AudioFolder : public FileSet {
 public:
  /// Scans `source` (a folder or a list file); throws, naming the path, on a missing source, a
  /// missing listed file, an empty set, a folder mixing audio files and class folders, an empty
  /// class folder, or bad options. Files are read by `get`, not here.
  AudioFolder(const std::filesystem::path& source, AudioFolderOptions options)
      : FileSet(audio_files()), opt_(checked(options)) {
    scan(source);
  }

  /// Unlabelled set of the given audio files, in the given order.
  AudioFolder(std::vector<std::filesystem::path> files, AudioFolderOptions options)
      : FileSet(audio_files()), opt_(checked(options)) {
    assign(std::move(files));
  }

  /// Clip `i` as float32 `[length]` with its class (-1 if unlabelled). A file that fails to decode
  /// or has another sample rate throws naming it.
  Sample get(int64_t i) const {
    check_index(i, "get");
    const auto& file = path(i);
    auto audio = io::read_audio(file);
    TORCH_CHECK(audio.rate == opt_.rate, "AudioFolder: '", file.string(), "': expected a sample rate of ", opt_.rate,
                " Hz (AudioFolderOptions::rate), got ", audio.rate,
                " Hz; files are not resampled (convert them first, e.g. sox in.wav -r ", opt_.rate, " out.wav)");
    return {fit_clip(io::to_mono(audio.samples), opt_.length, opt_.normalize), target(i)};
  }

  /// The options.
  const AudioFolderOptions& options() const { return opt_; }

 private:
  static FileKind audio_files() { return {"AudioFolder", "audio file", "audio files", "audio file", {".wav", ".flac", ".ogg"}}; }

  static AudioFolderOptions checked(AudioFolderOptions o) {
    TORCH_CHECK(o.length > 0, "AudioFolderOptions: expected length > 0 (samples per clip), got ", o.length);
    TORCH_CHECK(o.rate > 0, "AudioFolderOptions: expected rate > 0 (Hz), got ", o.rate);
    return o;
  }

  AudioFolderOptions opt_;
};

}  // namespace ssl::data
