#pragma once
/// \file io/audio.hpp
/// Reads audio files through libsndfile (WAV, FLAC, OGG/Vorbis, AIFF, ... whatever the installed
/// libsndfile reads) into float32 `[channels, frames]` tensors, and mixes channels down to mono.
/// Needs `-lsndfile` at link time (CMake: libssl's `audio` component).
///
/// Values: integer PCM is scaled by libsndfile's rule, v / 2^(bits-1) (16-bit: int16 / 32768;
/// 8-bit WAV, unsigned: (u8 - 128) / 128), so it lies in [-1, 1); float files come as stored.
/// Every failure throws a `c10::Error` naming the file and saying what was expected and what came.
#if !defined(SSL_WITH_AUDIO)
#error "ssl/io/audio.hpp needs libssl's audio component: install libsndfile (Debian: libsndfile1-dev pkg-config), reconfigure libssl, and link ssl::ssl (find_package(ssl COMPONENTS audio))"
#endif
#include <sndfile.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ssl::io {

/// Largest accepted channels * frames of one file (2^31 samples: 8 GiB as float32).
inline constexpr int64_t kMaxAudioSamples = int64_t(1) << 31;
/// Largest accepted channel count.
inline constexpr int64_t kMaxAudioChannels = 1024;

/// A decoded audio file.
struct Audio {
  torch::Tensor samples;  ///< float32 `[channels, frames]`; integer PCM scaled to [-1, 1)
  int64_t rate = 0;       ///< frames per second, as the file declares
};

namespace detail {

/// For a file whose header declares more audio bytes than the file holds, libsndfile reads what
/// is there and writes "data : <declared> (should be <present>)" in its log (WAV, and the same
/// words for W64/RF64/AIFF's chunks): {declared, present}, or {0, 0} when the log has no such
/// line. A declared size >= 2^31 - 2^16 is the placeholder that programs writing to a pipe put
/// in the header (espeak-ng --stdout: 0x7FFFF000), not a truncation: {0, 0} too.
inline std::pair<int64_t, int64_t> missing_data(SNDFILE* f) {
  std::string log(16384, '\0');
  sf_command(f, SFC_GET_LOG_INFO, log.data(), int(log.size()));
  for (const char* key : {"\ndata : ", "\nSSND : "}) {
    const auto at = log.find(key);
    if (at == std::string::npos) continue;
    const char* p = log.c_str() + at + std::char_traits<char>::length(key);
    char* end = nullptr;
    const long long declared = std::strtoll(p, &end, 10);
    static constexpr char should[] = " (should be ";
    if (end == p || std::string_view(end).substr(0, sizeof(should) - 1) != should) continue;
    const long long present = std::strtoll(end + sizeof(should) - 1, nullptr, 10);
    if (declared > present && declared < 0x7FFF0000LL) return {declared, present};
  }
  return {0, 0};
}

}  // namespace detail

/// Reads `path` (any format libsndfile reads; the format comes from the file's bytes, not its
/// name) as float32 `[channels, frames]` and its sample rate. Throws, naming the file: nothing
/// there or a folder; not audio libsndfile reads (with libsndfile's reason); a header declaring
/// no frames, a sample rate <= 0, more than `kMaxAudioChannels` channels or more than
/// `kMaxAudioSamples` samples (refused before anything is allocated); a header declaring more data
/// than the file holds, or a read that ends before the declared frames ("corrupt or truncated").
/// Memory grows with the frames actually decoded, never to a declared size first.
inline Audio read_audio(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  const std::string name = path.string();
  std::error_code ec;
  TORCH_CHECK(fs::exists(path, ec), "read_audio: expected an audio file at '", name, "', got nothing there");
  TORCH_CHECK(!fs::is_directory(path, ec), "read_audio: expected an audio file at '", name, "', got a folder");
  SF_INFO info{};
  std::unique_ptr<SNDFILE, int (*)(SNDFILE*)> f(sf_open(name.c_str(), SFM_READ, &info), sf_close);
  TORCH_CHECK(f, "read_audio: '", name, "': expected an audio file libsndfile reads (WAV, FLAC, OGG, ...), got: ",
              sf_strerror(nullptr));
  const auto [declared, present] = detail::missing_data(f.get());
  TORCH_CHECK(declared == 0, "read_audio: '", name, "': corrupt or truncated: expected the ", declared,
              " bytes of audio data its header declares, got ", present);
  const int64_t channels = info.channels, frames = info.frames, rate = info.samplerate;
  TORCH_CHECK(channels >= 1 && channels <= kMaxAudioChannels, "read_audio: '", name, "': expected 1 to ",
              kMaxAudioChannels, " channels, got ", channels);
  TORCH_CHECK(rate > 0, "read_audio: '", name, "': expected a sample rate > 0, got ", rate);
  TORCH_CHECK(frames > 0, "read_audio: '", name, "': expected at least one frame of audio, got 0");
  TORCH_CHECK(frames <= kMaxAudioSamples / channels, "read_audio: '", name, "': expected at most ", kMaxAudioSamples,
              " samples (channels x frames), got ", channels, " x ", frames, " declared");
  // Interleaved frames, in chunks: a small file that declares a long stream fails on its data
  // after a few chunks, not after allocating the declared size.
  std::vector<float> data;
  int64_t got = 0;
  while (got < frames) {
    const int64_t chunk = std::min<int64_t>(std::max<int64_t>(got, int64_t(1) << 16), frames - got);
    data.resize(size_t((got + chunk) * channels));
    const sf_count_t n = sf_readf_float(f.get(), data.data() + got * channels, chunk);
    got += std::max<sf_count_t>(n, 0);
    if (n < chunk) break;
  }
  TORCH_CHECK(got == frames, "read_audio: '", name, "': corrupt or truncated: expected the ", frames,
              " frames its header declares, got ", got, " (libsndfile: ", sf_strerror(f.get()), ")");
  // a copy, never a view of `data` (for one channel, the transpose is already contiguous)
  auto interleaved = torch::from_blob(data.data(), {frames, channels}, torch::kFloat32);
  return {interleaved.t().clone(at::MemoryFormat::Contiguous), rate};
}

/// The mean of the channels of `samples` float `[channels, frames]`: `[frames]`.
inline torch::Tensor to_mono(const torch::Tensor& samples) {
  TORCH_CHECK(samples.dim() == 2 && samples.size(0) >= 1 && samples.is_floating_point(),
              "to_mono: expected float [channels, frames], got ", samples.scalar_type(), " ", samples.sizes());
  return samples.size(0) == 1 ? samples[0] : samples.mean(0);
}

}  // namespace ssl::io
