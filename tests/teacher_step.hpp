// Shared by the I-JEPA and data2vec 2.0 suites: one training step of a recipe whose momentum
// teacher is a copy of the student's encoder.
#pragma once
#include <doctest/doctest.h>
#include <ssl/core/types.hpp>
#include <ssl/teacher/ema.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace ssl_test {

/// One SGD step (lr 0.1) of recipe `r` on the batch `x`: the teacher starts as a copy of the
/// student's encoder; the loss is finite; the student's encoder and `head_param` (a parameter of
/// the head) get a gradient and the teacher none; after the step the teacher moved by exactly
/// the EMA `ema` at step 0 of 10. Checked on the encoder's parameter `probe` (a ViT's patch
/// embedding bias, a text encoder's embedding norm bias): zero at initialisation, so its first
/// step shows in float32.
template <class R>
void check_teacher_step(R& r, const torch::Tensor& x, const ssl::teacher::Ema& ema, const torch::Tensor& head_param,
                        const std::string& probe = "patch_embed.proj.bias") {
  auto student = r->backbone()->parameters(), teacher = r->teacher_parameters();
  REQUIRE(student.size() == teacher.size());
  for (size_t i = 0; i < student.size(); ++i) CHECK(torch::equal(student[i], teacher[i]));
  torch::optim::SGD opt(r->parameters(), torch::optim::SGDOptions(0.1));
  auto out = r->forward(ssl::Batch{.input = x});
  REQUIRE(std::isfinite(out.loss.template item<double>()));
  opt.zero_grad();
  out.loss.backward();
  CHECK(head_param.grad().defined());
  CHECK(r->backbone()->blocks->block(0)->attn->qkv->weight.grad().defined());
  for (const auto& p : teacher) CHECK(!p.grad().defined());
  const auto names = r->backbone()->named_parameters().keys();
  const auto k = size_t(std::find(names.begin(), names.end(), probe) - names.begin());
  REQUIRE(k < student.size());
  const auto before = teacher[k].clone(), student_before = student[k].clone();
  opt.step();
  r->after_optimizer_step({.step = 0, .total_steps = 10});
  const double mom = ema.momentum({.step = 0, .total_steps = 10});
  CHECK(!torch::equal(student[k], student_before));
  CHECK(!torch::equal(teacher[k], before));
  CHECK(torch::allclose(teacher[k], mom * before + (1 - mom) * student[k], 1e-6, 1e-9));
}

}  // namespace ssl_test
