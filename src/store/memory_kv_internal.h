// Small helpers shared by memory_kv.cc and memory_kv_watch.cc. Internal to src/store.
#pragma once

#include <string>
#include <string_view>

#include "store/kv.h"

namespace prewarm::store::memory_internal {

// Whether `key` is `target` itself, or (prefix) starts with it.
inline bool Matches(std::string_view key, std::string_view target, bool prefix) {
  return prefix ? key.starts_with(target) : key == target;
}

template <typename Entry>
KeyValue ToKeyValue(const std::string& key, const Entry& e) {
  return KeyValue{key, e.value, e.create_revision, e.mod_revision, e.version, e.lease};
}

}  // namespace prewarm::store::memory_internal
