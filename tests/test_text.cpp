// Tokenizer and corpus tests (suites: text, text_vocab, tokenizer_parity).
#include <doctest/doctest.h>
