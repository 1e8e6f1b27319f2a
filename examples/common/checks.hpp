// Shared by the examples (not part of the library): CLI11 validators for numeric options, so that
// every option an example is given is checked when the command line is parsed, before any data
// is read or any step is taken ("--lr: expected a finite number > 0, got 0").
//
// CLI11's own CLI::PositiveNumber, CLI::NonNegativeNumber and CLI::Range let nan through (every
// comparison with nan is false) and accept inf; these refuse both. An option's default is not
// validated (CLI11 checks what is given), so an example may keep an internal "not given" default
// such as -1: a user can no longer pass a value the example would silently replace.
#pragma once
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

namespace ex {

namespace detail {
/// A validator accepting the numbers `ok` accepts (`integer`: whole numbers only); `expected`
/// says which, in the error message.
template <class Ok>
CLI::Validator number_check(std::string expected, bool integer, Ok ok) {
  return CLI::Validator(
      [expected, integer, ok](std::string& s) -> std::string {
        const char* b = s.c_str();
        char* e = nullptr;
        errno = 0;
        const double v = std::strtod(b, &e);
        const bool whole = e != b && *e == '\0' && errno == 0;
        if (!whole || !std::isfinite(v) || (integer && v != std::floor(v)) || !ok(v))
          return "expected " + expected + ", got '" + s + "'";
        return {};
      },
      "");  // no text in --help's type column ("FLOAT=-1" as before): the message says it on an error
}
}  // namespace detail

/// A finite number > 0 (a learning rate, a temperature).
inline CLI::Validator positive() {
  return detail::number_check("a finite number > 0", false, [](double v) { return v > 0; });
}
/// A finite number >= 0 (a weight decay, a clipping norm: 0 turns it off).
inline CLI::Validator non_negative() {
  return detail::number_check("a finite number >= 0", false, [](double v) { return v >= 0; });
}
/// A finite number in [lo, hi] (`lo_open` / `hi_open`: excluding that end).
inline CLI::Validator in_range(double lo, double hi, bool lo_open = false, bool hi_open = false) {
  char text[96];
  std::snprintf(text, sizeof text, "a number in %s%g, %g%s", lo_open ? "(" : "[", lo, hi, hi_open ? ")" : "]");
  return detail::number_check(text, false, [=](double v) {
    return (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  });
}
/// A whole number >= `lo` (epochs, a batch size, widths: 1; counts that may be 0: 0).
inline CLI::Validator at_least(int64_t lo) {
  return detail::number_check("a whole number >= " + std::to_string(lo), true, [lo](double v) {
    return v >= double(lo) && v <= double(std::numeric_limits<int64_t>::max());
  });
}

}  // namespace ex
