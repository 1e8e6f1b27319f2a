#!/usr/bin/env python3
"""Tokenizer parity references: Hugging Face BertTokenizerFast on the fortunes corpus.

Reads the vocabularies the C++ trainer wrote (CTest fixture `text_vocab`):
  OUT/fortunes_vocab.txt          (lowercase)
  OUT/fortunes_vocab_cased.txt    (cased)
and the fortunes with the rules of ssl::data::read_fortunes, and writes:
  OUT/fortunes_wordpiece_ids.txt        "documents N", then per document its ids (no special tokens)
                                        with BertTokenizerFast(do_lower_case=True)
  OUT/fortunes_wordpiece_ids_cased.txt  the same with do_lower_case=False (strip_accents None)
  OUT/fortunes_wordpiece_decoded.txt    "documents N", then per document decode(ids) of the lowercase ids
  OUT/tokenizer_unicode_cases.txt       "cases N", then per case: config, hex(UTF-8 input),
                                        hex(normalized), hex(words joined by ' '), ids, tab-separated
Fails loudly (exit 1) when anything is missing.
"""
import argparse
import os
import pathlib
import random
import sys


def fortunes_dir() -> pathlib.Path:
    env = os.environ.get("SSL_FORTUNES")
    return pathlib.Path(env if env else "/usr/share/games/fortunes")


def read_fortunes(d: pathlib.Path):
    """Same rules as ssl::data::read_fortunes (include/ssl/data/fortunes.hpp)."""
    if not d.is_dir():
        sys.exit(f"make_tokenizer_references: expected a directory of fortune files, got '{d}'")
    names = sorted(e.name for e in os.scandir(d)
                   if not e.is_symlink() and e.is_file(follow_symlinks=False)
                   and not e.name.endswith(".dat") and not e.name.endswith(".u8"))
    docs = []
    ws = " \t\n\r\f\v"
    for name in names:
        content = (d / name).read_bytes().decode("utf-8", errors="replace")
        cur = []
        for line in content.split("\n"):
            if line == "%":
                text = "\n".join(cur).strip(ws)
                if text:
                    docs.append((text, name))
                cur = []
            else:
                cur.append(line)
        text = "\n".join(cur).strip(ws)
        if text:
            docs.append((text, name))
    if not docs:
        sys.exit(f"make_tokenizer_references: no fortune in '{d}'")
    return docs


def load_tokenizer(vocab: pathlib.Path, **kwargs):
    from transformers import BertTokenizerFast
    if not vocab.is_file():
        sys.exit(f"make_tokenizer_references: missing {vocab} (written by the C++ test suite text_vocab)")
    n_lines = len(vocab.read_text(encoding="utf-8").split("\n")) - 1
    # transformers >= 5 takes the vocabulary as `vocab` (a path or a dict) and silently ignores
    # `vocab_file`; 4.x takes `vocab_file`. Check that the vocabulary really was loaded.
    try:
        tok = BertTokenizerFast(vocab=str(vocab), **kwargs)
    except TypeError:
        tok = BertTokenizerFast(vocab_file=str(vocab), **kwargs)
    if len(tok.get_vocab()) != n_lines:
        tok = BertTokenizerFast(vocab_file=str(vocab), **kwargs)
    if len(tok.get_vocab()) != n_lines:
        sys.exit(f"make_tokenizer_references: BertTokenizerFast loaded {len(tok.get_vocab())} tokens from {vocab}, "
                 f"which has {n_lines} lines")
    return tok


def encode_all(tok, texts):
    return tok(texts, add_special_tokens=False)["input_ids"]


def write_ids(path: pathlib.Path, ids_list):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(f"documents {len(ids_list)}\n")
        for ids in ids_list:
            f.write(" ".join(map(str, ids)) + "\n")


UNICODE_RANGES = [(0x0, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x600, 0x61C), (0x61E, 0x6FF), (0x900, 0x97F),
                  (0xE00, 0xE7F), (0x1100, 0x11FF), (0x1E00, 0x1EFF), (0x2000, 0x206F), (0x3000, 0x30FF),
                  (0x4E00, 0x4E80), (0xAC00, 0xAD00), (0xF900, 0xF920), (0xFB00, 0xFB06), (0xFF00, 0xFFEF),
                  (0x1F600, 0x1F64F), (0x20000, 0x20010)]

HANDWRITTEN = [
    "Hello, World!", "Café crème brûlée", "naïve Ångström façade", "İstanbul ΣΊΣΥΦΟΣ", "中文字符abc日本語",
    "한국어 텍스트", "a\u0301\u0323b", "ﬁnancial ﬀ", "tab\there\nnew\rline\u00a0nbsp\u3000ideo\u2028ls",
    "nul\x00ctl\x07\x08\x1b[0m\x7f\x85end", "repl\ufffdchar", "[MASK] and [CLS]x[SEP][UNK] [mask]",
    "don't stop-believing... 3.14 $5 #1 @me ^_^ ~x~ {a|b}", "emoji 😀 smile", "x" * 101, "é" * 100,
    "ALL CAPS SHOUTING", "mixed\u200bzero\u200dwidth\ufeffbom", "Ｆｕｌｌｗｉｄｔｈ１２３", "",
]

CONFIGS = {
    "lower": dict(do_lower_case=True),
    "cased": dict(do_lower_case=False),
    "cased_strip": dict(do_lower_case=False, strip_accents=True),
    "lower_nostrip": dict(do_lower_case=True, strip_accents=False),
    "lower_nochinese": dict(do_lower_case=True, tokenize_chinese_chars=False),
}


def unicode_cases():
    rng = random.Random(0)
    pool = [c for lo, hi in UNICODE_RANGES for c in range(lo, hi + 1)]
    cases = list(HANDWRITTEN)
    for _ in range(300):
        n = rng.randint(1, 24)
        cases.append("".join(chr(rng.choice(pool)) if rng.random() < 0.6 else rng.choice("abc DEF, ") for _ in range(n)))
    return cases


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    out = pathlib.Path(args.out)
    try:
        import transformers  # noqa: F401
    except Exception as exc:
        sys.exit(f"make_tokenizer_references: transformers is required ({type(exc).__name__}: {exc})")

    docs = read_fortunes(fortunes_dir())
    texts = [t for t, _ in docs]
    print(f"make_tokenizer_references: {len(texts)} documents, {len(set(n for _, n in docs))} topics")

    lower = load_tokenizer(out / "fortunes_vocab.txt", do_lower_case=True)
    ids = encode_all(lower, texts)
    write_ids(out / "fortunes_wordpiece_ids.txt", ids)
    with open(out / "fortunes_wordpiece_decoded.txt", "w", encoding="utf-8", newline="\n") as f:
        f.write(f"documents {len(ids)}\n")
        for x in ids:
            s = lower.decode(x, skip_special_tokens=True)
            assert "\n" not in s
            f.write(s + "\n")
    print(f"  lowercase: {sum(map(len, ids))} tokens")

    cased = load_tokenizer(out / "fortunes_vocab_cased.txt", do_lower_case=False)
    ids_c = encode_all(cased, texts)
    write_ids(out / "fortunes_wordpiece_ids_cased.txt", ids_c)
    print(f"  cased: {sum(map(len, ids_c))} tokens")

    cases = unicode_cases()
    rows = []
    for name, kw in CONFIGS.items():
        tok = load_tokenizer(out / "fortunes_vocab.txt", **kw)
        bt = tok.backend_tokenizer
        for s in cases:
            norm = bt.normalizer.normalize_str(s)
            words = " ".join(w for w, _ in bt.pre_tokenizer.pre_tokenize_str(norm))
            x = tok(s, add_special_tokens=False)["input_ids"]
            rows.append("\t".join([name, s.encode().hex(), norm.encode().hex(), words.encode().hex(),
                                   " ".join(map(str, x))]))
    with open(out / "tokenizer_unicode_cases.txt", "w", encoding="utf-8", newline="\n") as f:
        f.write(f"cases {len(rows)}\n")
        for r in rows:
            f.write(r + "\n")
    print(f"  {len(rows)} unicode cases; wrote the references to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
