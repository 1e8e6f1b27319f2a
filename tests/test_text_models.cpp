// Text models: BERT / ELECTRA / GPT, BertMasker statistics, Hugging Face parity.
#include <doctest/doctest.h>
