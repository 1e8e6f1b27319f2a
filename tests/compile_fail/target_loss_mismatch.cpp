// Must NOT compile: MAE's target (pixel patches) paired with SimCLR's loss (NT-Xent scores paired
// embeddings). The error must name both types and say that Target and Loss do not agree
// (checked by CTest's PASS_REGULAR_EXPRESSION).
#include <ssl/loss/ntxent.hpp>
#include <ssl/mae.hpp>

int main() {
  using Bad = ssl::mae::Recipe::with_loss<ssl::loss::NTXent>;
  Bad::Impl* p = nullptr;
  (void)p;
  return sizeof(Bad::Impl) > 0 ? 0 : 1;
}
