// Shared by the image examples (not part of the library): the demo's setting of DINO's and
// iBOT's teacher temperature (--teacher-temp).
#pragma once
#include <ssl/loss/dino.hpp>

namespace ex {

/// DINO's and iBOT's `--teacher-temp`: the teacher's temperature `t`, warmed up from 0.04 over
/// the first epoch when it differs from 0.04 (DINO's schedule, shortened to these runs).
inline void set_teacher_temperature(ssl::loss::DINOLossOptions& o, double t) {
  o.warmup_teacher_temp(0.04).teacher_temp(t).warmup_teacher_temp_epochs(t == 0.04 ? 0 : 1);
}

}  // namespace ex
