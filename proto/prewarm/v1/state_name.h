// Human-readable names of the v1 enums, for logs, metrics labels and `prewarm ctl`.
#pragma once

#include "prewarm/v1/common.pb.h"

namespace prewarm::v1 {

// "reserved", "starting", "ready", "draining", "gone", "failed" or "unspecified".
const char* StateName(InstanceState s);

}  // namespace prewarm::v1
