#!/usr/bin/env python3
"""Byte-level BPE parity references: Hugging Face GPT2TokenizerFast / RobertaTokenizerFast.

No model hub: trains a byte-level BPE (tokenizers' ByteLevelBPETokenizer, vocabulary 3000) on the
fortunes corpus (the rules of ssl::data::read_fortunes) and writes to OUT/bpe/:
  vocab.json, merges.txt          the trained model (HF's save_model)
  tokenizer.json                  the trained tokenizers file (merges as "a b" strings; its six
                                  special tokens, no post-processing): config "trained"
  tokenizer_pairs.json            the same, merges written as [a, b] pairs
  gpt2_tokenizer.json             GPT2TokenizerFast's backend (ByteLevel post-processor)
  roberta_tokenizer.json          RobertaTokenizerFast's backend (RobertaProcessing post-processor)
  bpe_cases.json                  {"configs": {name: [ids per string]}, "decoded": {...},
                                   "strings_hex": [hex(UTF-8) of each string], "fortunes": N}
                                  strings: every fortune, then the Unicode stress set; configs:
                                  gpt2 (GPT2TokenizerFast), gpt2_prefix (add_prefix_space=True),
                                  roberta (RobertaTokenizerFast, <s> ... </s>), roberta_lstrip
                                  (<mask> with lstrip, as roberta-base on the hub)
  invalid_utf8.json               byte strings that are not UTF-8 (hex) and the gpt2 ids of
                                  their decode("utf-8", errors="replace")
And the WordPiece tokenizer.json files from the vocabularies of the C++ trainer (CTest fixture
text_vocab: OUT/fortunes_vocab.txt, OUT/fortunes_vocab_cased.txt), saved by BertTokenizerFast's
backend, with the ids of every fortune and of the stress set:
  wordpiece_lower.json, wordpiece_cased.json, wordpiece_cases.json
Fails loudly (exit 1) when anything is missing.
"""
import argparse
import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_tokenizer_references import fortunes_dir, load_tokenizer, read_fortunes  # noqa: E402

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "<|endoftext|>"]


def stress_set():
    s = [
        "",
        " ",
        "   ",
        "Hello world",
        " Hello world",
        "  leading spaces and trailing  ",
        "DON'T STOP, I'M SURE YOU'LL WIN. WE'VE WON, THEY'RE HERE, HE'D GO, IT'S",
        "don't stop, i'm sure you'll win. we've won, they're here, he'd go, it's",
        "'s 't 're 've 'm 'll 'd ''s 'S 'x '",
        "abc123def 4th 2nd 3.14159 1,000,000 x² ½ Ⅻ ٣٤٥ ௰",
        "emoji 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 🇫🇷 ok",
        "👍🏻👍🏼👍🏽👍🏾👍🏿",
        "中文字符和日本語のテキスト、カタカナ。",
        "한국어 텍스트 입니다 ᄀᄁ",
        "e\u0301 a\u0300\u0323 n\u0303 Ångström Zalgo: Z\u0351\u0364a\u0352l\u036bg\u0300o\u0489",
        "العربية نص مرحبا 123 עברית שלום",
        "control\x00chars\x01\x02\x07\x08\x1b[0m\x7f\x85\x1c\x1d\x1e\x1fend",
        "tab\there\t\ttwo tabs\nnew line\r\nCRLF\n\n\nthree  two   three    four",
        "nbsp\u00a0here\u00a0\u00a0two em\u2003space ideo\u3000space thin\u2009narrow\u202fls\u2028ps\u2029ogham\u1680x",
        "zero\u200bwidth\u200djoiner\u200cnon\ufeffbom\u2060wj",
        "trailing spaces   ",
        "trailing newline\n",
        "\n\n",
        " \n ",
        "a\t b\n  c",
        "mixed  \u00a0 \t\u3000 spaces",
        "x" * 10000,
        "supercalifragilisticexpialidocious" * 30,
        "é" * 3000,
        "😀" * 500,
        "<s>literal</s> <pad><unk> and <mask> here <|endoftext|> end",
        "a <mask> b  <mask>\t<mask>",
        "<mask>",
        "<|endoftext|>",
        "no<s>space</s>between",
        "<<s>> <</s> <mask",
        "Ｆｕｌｌｗｉｄｔｈ１２３ ﬁnancial ﬀ ℌ ℕ ™",
        "math 𝔸𝕓𝒸 𝟘𝟙𝟚 symbols ∑∫√∞ ≠ ≤",
        "punct!!! ??? ... --- ___ *** ### $$$ %%% &&& @@@ ~~~ ``` ^^^",
        "http://example.com/path?query=1&b=2#frag user@mail.org",
        "C++ std::vector<int> x = {1, 2, 3}; // comment",
        "Ελληνικά Русский текст Português ñandú İstanbul ß ẞ",
        "हिन्दी ภาษาไทย ქართული Հայերեն",
        "private\ue000use \U000F0000 noncharacter \uffff\ufffe replacement \ufffd",
        "unassigned \U000E0001\U000E0041 tags \U0010FFFD",
        "\u0300 leading combining mark",
        "1\u0301 digit with mark, 'a\u0301 contraction-ish",
    ]
    return s


INVALID = [b"abc\xff def", b"\xc3\x28 bad", b"\xe2\x82 truncated", b"\xed\xa0\x80 surrogate", b"\xc0\xaf overlong",
           b"end\xf0\x9f\x98"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--vocab-size", type=int, default=3000)
    args = ap.parse_args(argv)
    out = pathlib.Path(args.out)
    bpe_dir = out / "bpe"
    bpe_dir.mkdir(parents=True, exist_ok=True)
    try:
        from tokenizers import AddedToken, ByteLevelBPETokenizer, Tokenizer
        from transformers import GPT2TokenizerFast, RobertaTokenizerFast
    except Exception as exc:
        sys.exit(f"make_bpe_references: tokenizers and transformers are required ({type(exc).__name__}: {exc})")

    t0 = time.time()
    docs = read_fortunes(fortunes_dir())
    texts = [t for t, _ in docs]
    strings = texts + stress_set()

    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(texts, vocab_size=args.vocab_size, min_frequency=2, special_tokens=SPECIALS,
                                show_progress=False)
    trainer.save_model(str(bpe_dir))
    trainer.save(str(bpe_dir / "tokenizer.json"))
    tj = json.loads((bpe_dir / "tokenizer.json").read_text(encoding="utf-8"))
    merges = tj["model"]["merges"]
    tj["model"]["merges"] = [m.split(" ") if isinstance(m, str) else m for m in merges]
    (bpe_dir / "tokenizer_pairs.json").write_text(json.dumps(tj, ensure_ascii=False), encoding="utf-8")
    if isinstance(merges[0], list):  # newer tokenizers write pairs: keep a string form too
        tj["model"]["merges"] = [" ".join(m) for m in merges]
        (bpe_dir / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False), encoding="utf-8")

    vocab, merges_txt = str(bpe_dir / "vocab.json"), str(bpe_dir / "merges.txt")
    n_vocab = len(json.loads((bpe_dir / "vocab.json").read_text(encoding="utf-8")))
    # transformers >= 5 takes `vocab` / `merges` (paths) and ignores `vocab_file` / `merges_file`.
    tokenizers = {
        "gpt2": GPT2TokenizerFast(vocab=vocab, merges=merges_txt),
        "gpt2_prefix": GPT2TokenizerFast(vocab=vocab, merges=merges_txt, add_prefix_space=True),
        "roberta": RobertaTokenizerFast(vocab=vocab, merges=merges_txt),
        "roberta_lstrip": RobertaTokenizerFast(vocab=vocab, merges=merges_txt,
                                               mask_token=AddedToken("<mask>", lstrip=True, rstrip=False)),
    }
    for name, tok in tokenizers.items():
        if len(tok.get_vocab()) != n_vocab:
            sys.exit(f"make_bpe_references: {name} loaded {len(tok.get_vocab())} tokens from {vocab}, which has {n_vocab}")
    tokenizers["roberta"].backend_tokenizer.save(str(bpe_dir / "roberta_tokenizer.json"))
    tokenizers["gpt2"].backend_tokenizer.save(str(bpe_dir / "gpt2_tokenizer.json"))

    configs, decoded = {}, {}
    for name, tok in tokenizers.items():
        ids = tok(strings)["input_ids"]
        configs[name] = ids
        decoded[name] = tok.batch_decode(ids, skip_special_tokens=True)
        print(f"make_bpe_references: {name}: {len(ids)} strings, {sum(map(len, ids))} tokens")
    # The trained tokenizer.json (all six special tokens, no post-processing) is a config of its
    # own. (The saved backends of the transformers classes are checked against their classes' ids
    # by the C++ test, which loads them.)
    trained = Tokenizer.from_file(str(bpe_dir / "tokenizer.json"))
    configs["trained"] = [e.ids for e in trained.encode_batch(strings)]
    decoded["trained"] = trained.decode_batch(configs["trained"], skip_special_tokens=True)
    (bpe_dir / "bpe_cases.json").write_text(json.dumps({
        "fortunes": len(texts), "strings_hex": [s.encode("utf-8").hex() for s in strings],
        "configs": configs, "decoded": decoded}), encoding="utf-8")
    inv = [{"hex": b.hex(), "ids": tokenizers["gpt2"](b.decode("utf-8", errors="replace"))["input_ids"]} for b in INVALID]
    (bpe_dir / "invalid_utf8.json").write_text(json.dumps(inv), encoding="utf-8")

    # WordPiece tokenizer.json from the C++ trainer's vocabularies.
    wp = {}
    for name, fname, kw in (("lower", "fortunes_vocab.txt", dict(do_lower_case=True)),
                            ("cased", "fortunes_vocab_cased.txt", dict(do_lower_case=False))):
        tok = load_tokenizer(out / fname, **kw)
        tok.backend_tokenizer.save(str(bpe_dir / f"wordpiece_{name}.json"))
        wp[name] = tok(strings, add_special_tokens=False)["input_ids"]
    (bpe_dir / "wordpiece_cases.json").write_text(json.dumps(wp), encoding="utf-8")
    print(f"make_bpe_references: {len(texts)} fortunes + {len(strings) - len(texts)} stress strings; wrote {bpe_dir} "
          f"({time.time() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
