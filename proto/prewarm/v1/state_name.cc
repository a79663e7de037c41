#include "prewarm/v1/state_name.h"

namespace prewarm::v1 {

const char* StateName(InstanceState s) {
  switch (s) {
    case INSTANCE_STATE_RESERVED: return "reserved";
    case INSTANCE_STATE_STARTING: return "starting";
    case INSTANCE_STATE_READY: return "ready";
    case INSTANCE_STATE_DRAINING: return "draining";
    case INSTANCE_STATE_GONE: return "gone";
    case INSTANCE_STATE_FAILED: return "failed";
    default: return "unspecified";
  }
}

}  // namespace prewarm::v1
