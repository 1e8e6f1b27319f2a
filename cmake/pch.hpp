// Precompiled header for libssl's own examples, tests and benchmarks (not installed).
#pragma once
#include <torch/torch.h>
#include <ssl/ssl.hpp>
