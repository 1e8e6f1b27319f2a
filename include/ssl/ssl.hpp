#pragma once
/// \file ssl.hpp
/// Everything in libssl: the concepts, the parts, the trainer, data, evaluation and I/O.
#include <ssl/concepts.hpp>
#include <ssl/compose.hpp>
#include <ssl/data/idx.hpp>
#include <ssl/data/loader.hpp>
#include <ssl/dist/collective.hpp>
#include <ssl/eval/classifier.hpp>
#include <ssl/eval/knn.hpp>
#include <ssl/eval/linear_probe.hpp>
#include <ssl/io/hf.hpp>
#include <ssl/io/png.hpp>
#include <ssl/io/safetensors.hpp>
#include <ssl/losses/barlow_twins.hpp>
#include <ssl/losses/dino.hpp>
#include <ssl/losses/neg_cosine.hpp>
#include <ssl/losses/ntxent.hpp>
#include <ssl/losses/pairwise.hpp>
#include <ssl/losses/vicreg.hpp>
#include <ssl/mae.hpp>
#include <ssl/teachers/ema.hpp>
#include <ssl/train/trainer.hpp>
