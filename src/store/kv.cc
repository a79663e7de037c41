#include "store/kv.h"

namespace prewarm::store {

// etcd's rule (clientv3.GetPrefixRangeEnd): drop trailing 0xff bytes, then add one to the
// last byte. A prefix of only 0xff bytes (or the empty prefix) has no such key: etcd then
// uses "\0", which as a range_end means "to the end of the keyspace".
std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

}  // namespace prewarm::store
