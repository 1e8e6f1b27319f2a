#!/usr/bin/env python3
"""Generates include/ssl/text/unicode_tables.hpp from Python's `unicodedata`.

Dev-time only: the generated header is committed and the library never needs Python. Rerun
(`python3 scripts/gen_unicode_tables.py`) to move to the Unicode version of another Python.

Tables (all sorted by code point, searched by binary search in ssl/text/unicode.hpp):
  kWhitespace      White_Space property (Python's isspace() minus U+001C..U+001F)
  kControl         general categories Cc, Cf, Co, Cs (not Cn, like Hugging Face tokenizers)
  kPunctuation     general categories P* (BERT adds the ASCII symbols in code, not here)
  kNonspacingMark  general category Mn
  kLetter          general category L* (Lu, Ll, Lt, Lm, Lo): the regex class \p{L} of GPT-2's pre-tokenizer
  kNumber          general category N* (Nd, Nl, No): the regex class \p{N}
                   (HF tokenizers 0.23 matches \p{L} \p{N} \s with Oniguruma via the onig 6.5
                   crate, whose tables are of a later Unicode than Python 3.11's 14.0: only code
                   points assigned since can differ; \s there is White_Space, as kWhitespace)
  kLower           full lowercase mapping as runs {lo, hi, stride, delta} for 1:1 mappings
  kLowerSpecial    the 1:n lowercase mappings (U+0130)
  kDecomp          full canonical decomposition (NFD, Hangul excluded: done in code)
  kCombiningClass  canonical combining class != 0 as runs {lo, hi, ccc}
"""
import argparse
import pathlib
import sys
import unicodedata as ud

MAX = 0x110000


def ranges(pred):
    out, start = [], None
    for c in range(MAX):
        if pred(c):
            if start is None:
                start = c
        elif start is not None:
            out.append((start, c - 1))
            start = None
    if start is not None:
        out.append((start, MAX - 1))
    return out


def cat(c):
    return ud.category(chr(c))


def is_hangul_syllable(c):
    return 0xAC00 <= c <= 0xD7A3


def full_decomposition(c):
    d = ud.decomposition(chr(c))
    if not d or d.startswith("<"):
        return [c]
    out = []
    for part in d.split():
        out.extend(full_decomposition(int(part, 16)))
    return out


def lower_runs():
    single, special = {}, {}
    for c in range(MAX):
        if 0xD800 <= c < 0xE000:
            continue
        low = chr(c).lower()
        if low == chr(c):
            continue
        if len(low) == 1:
            single[c] = ord(low)
        else:
            special[c] = [ord(x) for x in low]
    runs = []  # [lo, hi, stride, delta]
    for c in sorted(single):
        delta = single[c] - c
        if runs:
            lo, hi, stride, d = runs[-1]
            if d == delta and (stride == 0 or c - hi == stride) and (stride != 0 or c - hi <= 2):
                runs[-1] = [lo, c, c - hi, d]
                continue
        runs.append([c, c, 0, delta])
    for r in runs:
        if r[2] == 0:
            r[2] = 1
    # Verify.
    for lo, hi, stride, d in runs:
        for c in range(lo, hi + 1, stride):
            assert single[c] == c + d
    assert sum((hi - lo) // stride + 1 for lo, hi, stride, _ in runs) == len(single)
    return runs, special


def fmt_ranges(name, rs, comment):
    body = ",\n".join(
        "    " + ", ".join(f"{{0x{lo:X}, 0x{hi:X}}}" for lo, hi in rs[i:i + 6]) for i in range(0, len(rs), 6))
    return f"/// {comment} ({len(rs)} ranges)\ninline constexpr Range {name}[] = {{\n{body}\n}};\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parent.parent /
                                         "include/ssl/text/unicode_tables.hpp"))
    args = ap.parse_args()

    ws = ranges(lambda c: chr(c).isspace() and not (0x1C <= c <= 0x1F))
    control = ranges(lambda c: cat(c) in ("Cc", "Cf", "Co", "Cs"))
    punct = ranges(lambda c: cat(c).startswith("P"))
    mn = ranges(lambda c: cat(c) == "Mn")
    letter = ranges(lambda c: cat(c).startswith("L"))
    number = ranges(lambda c: cat(c).startswith("N"))
    lruns, lspecial = lower_runs()

    decomp = []
    for c in range(MAX):
        if is_hangul_syllable(c) or 0xD800 <= c < 0xE000:
            continue
        d = full_decomposition(c)
        if d != [c]:
            assert ud.normalize("NFD", chr(c)) == "".join(map(chr, d)), hex(c)
            decomp.append((c, d))
    flat, entries = [], []
    for c, d in decomp:
        entries.append((c, len(flat), len(d)))
        flat.extend(d)
    assert max(len(d) for _, d in decomp) <= 4

    ccc_runs = []
    for c in range(MAX):
        k = ud.combining(chr(c))
        if k == 0:
            continue
        if ccc_runs and ccc_runs[-1][1] == c - 1 and ccc_runs[-1][2] == k:
            ccc_runs[-1][1] = c
        else:
            ccc_runs.append([c, c, k])

    out = []
    out.append("#pragma once\n")
    out.append("/// \\file text/unicode_tables.hpp\n")
    out.append(f"/// GENERATED by scripts/gen_unicode_tables.py from Python's unicodedata (Unicode "
               f"{ud.unidata_version}); do not edit.\n")
    out.append("#include <cstdint>\n\nnamespace ssl::text::tables {\n\n")
    out.append("/// The Unicode version of the tables (that of the generating Python's unicodedata).\n")
    out.append(f"inline constexpr const char* kUnicodeVersion = \"{ud.unidata_version}\";\n\n")
    out.append("/// A closed code point range [lo, hi].\nstruct Range {\n  char32_t lo;  ///< first code point\n  char32_t hi;  ///< last code point\n};\n")
    out.append("/// Lowercase run: for c in [lo, hi] with (c - lo) % stride == 0, lower(c) = c + delta.\n"
               "struct LowerRun {\n  char32_t lo;      ///< first code point\n  char32_t hi;      ///< last code point\n"
               "  uint16_t stride;  ///< distance between the mapped code points\n"
               "  int32_t delta;    ///< lower(c) - c\n};\n")
    out.append("/// A 1:n lowercase mapping.\nstruct LowerSpecial {\n  char32_t cp;     ///< the code point\n"
               "  char32_t to[3];  ///< its lowercase, `n` code points\n  uint8_t n;       ///< length of `to`\n};\n")
    out.append("/// Canonical decomposition of `cp`: kDecompData[offset, offset + n).\n"
               "struct Decomp {\n  char32_t cp;      ///< the code point\n  uint16_t offset;  ///< first index into kDecompData\n"
               "  uint8_t n;        ///< length of the decomposition\n};\n")
    out.append("/// Canonical combining class `ccc` for [lo, hi].\nstruct CccRun {\n  char32_t lo;  ///< first code point\n"
               "  char32_t hi;  ///< last code point\n  uint8_t ccc;  ///< the combining class\n};\n\n")
    out.append(fmt_ranges("kWhitespace", ws, "White_Space"))
    out.append(fmt_ranges("kControl", control, "Cc, Cf, Co, Cs"))
    out.append(fmt_ranges("kPunctuation", punct, "P* (Pc, Pd, Pe, Pf, Pi, Po, Ps)"))
    out.append(fmt_ranges("kNonspacingMark", mn, "Mn"))
    out.append(fmt_ranges("kLetter", letter, "L* (Lu, Ll, Lt, Lm, Lo)"))
    out.append(fmt_ranges("kNumber", number, "N* (Nd, Nl, No)"))
    body = ",\n".join("    " + ", ".join(f"{{0x{lo:X}, 0x{hi:X}, {st}, {d}}}" for lo, hi, st, d in lruns[i:i + 4])
                      for i in range(0, len(lruns), 4))
    out.append(f"/// Full lowercase, 1:1 part ({len(lruns)} runs)\ninline constexpr LowerRun kLower[] = {{\n{body}\n}};\n")
    body = ",\n".join(
        f"    {{0x{c:X}, {{{', '.join(f'0x{x:X}' for x in (to + [0, 0, 0])[:3])}}}, {len(to)}}}"
        for c, to in sorted(lspecial.items()))
    out.append(f"/// Full lowercase, 1:n part\ninline constexpr LowerSpecial kLowerSpecial[] = {{\n{body}\n}};\n")
    body = ",\n".join("    " + ", ".join(f"0x{x:X}" for x in flat[i:i + 12]) for i in range(0, len(flat), 12))
    out.append(f"/// Decomposition code points ({len(flat)})\ninline constexpr char32_t kDecompData[] = {{\n{body}\n}};\n")
    body = ",\n".join("    " + ", ".join(f"{{0x{c:X}, {o}, {n}}}" for c, o, n in entries[i:i + 6])
                      for i in range(0, len(entries), 6))
    out.append(f"/// Full canonical decompositions ({len(entries)})\ninline constexpr Decomp kDecomp[] = {{\n{body}\n}};\n")
    body = ",\n".join("    " + ", ".join(f"{{0x{lo:X}, 0x{hi:X}, {k}}}" for lo, hi, k in ccc_runs[i:i + 6])
                      for i in range(0, len(ccc_runs), 6))
    out.append(f"/// Canonical combining class != 0 ({len(ccc_runs)} runs)\ninline constexpr CccRun kCombiningClass[] = {{\n{body}\n}};\n")
    out.append("\n}  // namespace ssl::text::tables\n")
    pathlib.Path(args.out).write_text("".join(out))
    print(f"wrote {args.out}: Unicode {ud.unidata_version}, ws {len(ws)}, control {len(control)}, punct {len(punct)}, "
          f"Mn {len(mn)}, L {len(letter)}, N {len(number)}, lower runs {len(lruns)} + {len(lspecial)}, decomp {len(entries)}, ccc runs {len(ccc_runs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
