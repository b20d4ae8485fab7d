#include "controller/leader_terms.h"

namespace groupscaler::controller {

void LeaderTerms::Begin() {
  std::lock_guard lock(mu_);
  if (current_) return;
  current_ = factory_();
  current_->Start();
}

void LeaderTerms::End() {
  std::unique_ptr<Controller> ending;
  {
    std::lock_guard lock(mu_);
    ending = std::move(current_);
  }
  if (ending) ending->Stop();
}

bool LeaderTerms::synced() const {
  std::lock_guard lock(mu_);
  return current_ && current_->synced();
}

}  // namespace groupscaler::controller
