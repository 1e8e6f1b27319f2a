#pragma once
/// \file train/progress.hpp
/// A progress bar (items/s, loss, ETA) on a terminal; plain lines every 10 % otherwise.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <type_traits>

namespace ssl::train {

/// A progress bar on stderr (label, percentage, rate, elapsed and remaining time) on a terminal;
/// elsewhere one line per tenth of the work.
class Progress {
 public:
  /// `enabled`: -1 = auto (bar on a terminal, lines otherwise), 0 = silent, 1 = always a bar.
  Progress(std::string label, int64_t total, std::string unit = "it", int enabled = -1)
      : label_(std::move(label)), unit_(std::move(unit)), total_(total),
        tty_(enabled == 1 || (enabled == -1 && isatty(fileno(stderr)))), silent_(enabled == 0),
        start_(clock::now()), last_draw_(start_) {}

  /// `done` steps of `total`; `items` processed so far (for the rate); `extra` e.g. "loss 0.41".
  void update(int64_t done, int64_t items, const std::string& extra) {
    update(done, items, [&] { return extra; });
  }
  /// As above, with `extra()` called only when a line is drawn (a bar redraws at most 5 times a
  /// second): a caller whose text needs a device-to-host copy (a CUDA loss) pays for it only then.
  template <class Extra>
    requires std::is_invocable_r_v<std::string, Extra&>
  void update(int64_t done, int64_t items, Extra&& extra) {
    if (silent_) return;
    const auto now = clock::now();
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double rate = secs > 0 ? double(items) / secs : 0.0;
    const double frac = total_ > 0 ? double(done) / double(total_) : 1.0;
    const double eta = (done > 0 && done < total_) ? secs / double(done) * double(total_ - done) : 0.0;
    if (tty_) {
      if (done < total_ && std::chrono::duration<double>(now - last_draw_).count() < 0.2) return;
      last_draw_ = now;
      constexpr int width = 24;
      const int filled = static_cast<int>(frac * width);
      std::string bar(filled, '#');
      bar.resize(width, ' ');
      std::fprintf(stderr, "\r%s %3d%% |%s| %lld/%lld [%s<%s, %.1f %s/s] %s\033[K", label_.c_str(),
                   int(frac * 100), bar.c_str(), (long long)done, (long long)total_, hms(secs).c_str(),
                   hms(eta).c_str(), rate, unit_.c_str(), extra().c_str());
      if (done >= total_) std::fprintf(stderr, "\n");
    } else {
      const int decile = static_cast<int>(frac * 10);
      if (decile <= last_decile_ && done < total_) return;
      if (done >= total_ && last_decile_ == 10) return;
      last_decile_ = decile;
      std::fprintf(stderr, "%s %3d%% %lld/%lld elapsed %s eta %s %.1f %s/s %s\n", label_.c_str(),
                   int(frac * 100), (long long)done, (long long)total_, hms(secs).c_str(), hms(eta).c_str(),
                   rate, unit_.c_str(), extra().c_str());
    }
    std::fflush(stderr);
  }

  /// Seconds since it was made.
  [[nodiscard]] double seconds() const { return std::chrono::duration<double>(clock::now() - start_).count(); }

 private:
  using clock = std::chrono::steady_clock;
  static std::string hms(double s) {
    char buf[32];
    const auto t = static_cast<long long>(s);
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", t / 60, t % 60);
    return buf;
  }
  std::string label_, unit_;
  int64_t total_;
  bool tty_, silent_;
  int last_decile_ = -1;
  clock::time_point start_, last_draw_;
};

}  // namespace ssl::train
