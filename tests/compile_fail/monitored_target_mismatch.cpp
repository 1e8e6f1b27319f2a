// Must NOT compile: a monitored NT-Xent (monitor::watch keeps the target type of the loss it
// wraps: paired embeddings) in MAE's loss slot, whose target gives pixel patches. The error must
// name both types and say that Target and Loss do not agree, as for the bare loss
// (checked by CTest's PASS_REGULAR_EXPRESSION).
#include <ssl/loss/ntxent.hpp>
#include <ssl/mae.hpp>
#include <ssl/monitor/watch.hpp>

int main() {
  using Watched = ssl::monitor::Monitored<ssl::loss::NTXent, ssl::monitor::EmbeddingStd>;
  using Bad = ssl::mae::Recipe::with_loss<Watched>;
  Bad::Impl* p = nullptr;
  (void)p;
  return sizeof(Bad::Impl) > 0 ? 0 : 1;
}
