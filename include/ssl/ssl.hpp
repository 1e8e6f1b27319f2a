#pragma once
/// \file ssl.hpp
/// Everything in libssl: the concepts, the parts, the trainer, data, evaluation and I/O.
#include <ssl/concepts.hpp>
#include <ssl/compose.hpp>
#include <ssl/data/idx.hpp>
#include <ssl/data/loader.hpp>
#include <ssl/eval/classifier.hpp>
#include <ssl/eval/knn.hpp>
#include <ssl/eval/linear_probe.hpp>
#include <ssl/io/hf.hpp>
#include <ssl/io/png.hpp>
#include <ssl/io/safetensors.hpp>
#include <ssl/mae.hpp>
#include <ssl/train/trainer.hpp>
