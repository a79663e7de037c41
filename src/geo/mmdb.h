// Client location from a MaxMind-format database (GeoIP2 / GeoLite2 City or Country, or
// any .mmdb with the same record layout), read with Debian's libmaxminddb.
//
// A record maps to a region by its country (`country.iso_code`, through a configured
// country -> region table), else by its coordinates (`location.latitude/longitude`, the
// nearest configured region by great-circle distance). The prefix length of the
// database network that held the record is the answer's ECS scope.
//
// MmdbLocator keeps the open database behind an atomic shared_ptr: Lookup (any DNS thread)
// takes no lock, Reload / ReloadIfChanged (one control thread) open the file again and
// swap the new database in only when it opened and passed its checks; a failed reload
// keeps the old one and is counted.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/net.h"
#include "common/status.h"
#include "geo/geo.h"

namespace prewarm::geo {

// What one record of the database says about an address.
struct MmdbRecord {
  std::string country;            // ISO 3166-1 alpha-2, upper case; empty when absent
  std::optional<GeoPoint> point;  // location.latitude/longitude when both are present
  int prefix = 0;                 // the database network's prefix length, in the address's family
};

// One open database file. Lookups are thread-safe (libmaxminddb reads a read-only mmap).
class MmdbDatabase {
 public:
  // Fails with a message naming the file when it is missing, unreadable or not a valid
  // MaxMind database.
  static absl::StatusOr<std::unique_ptr<MmdbDatabase>> Open(const std::string& path);
  ~MmdbDatabase();
  MmdbDatabase(const MmdbDatabase&) = delete;
  MmdbDatabase& operator=(const MmdbDatabase&) = delete;

  // nullopt: the database has no record for `addr`. An error: the record is corrupt.
  absl::StatusOr<std::optional<MmdbRecord>> Lookup(const IpAddr& addr) const;
  const std::string& database_type() const { return type_; }
  uint64_t build_epoch() const { return build_epoch_; }

 private:
  struct Handle;
  explicit MmdbDatabase(std::unique_ptr<Handle> h);

  std::unique_ptr<Handle> handle_;
  std::string type_;
  uint64_t build_epoch_ = 0;
};

// How records map to regions.
struct MmdbMapping {
  std::map<std::string, Location> countries;  // ISO code (upper case) -> region
  std::vector<Location> regions;              // candidates for the nearest-region rule
};

struct MmdbCounters {
  std::atomic<uint64_t> reloads{0};          // successful reloads after the first open
  std::atomic<uint64_t> reload_failures{0};  // the file changed or SIGHUP, but it did not open
  std::atomic<uint64_t> lookup_errors{0};    // corrupt records met on the hot path
};

class MmdbLocator {
 public:
  // Opens `path` once; an error names the file and what is wrong with it.
  static absl::StatusOr<std::unique_ptr<MmdbLocator>> Open(std::string path, MmdbMapping mapping);

  // The region for `addr` (see the header comment); nullopt when the database has no
  // record for it, or the record has neither a mapped country nor coordinates.
  std::optional<Located> Lookup(const IpAddr& addr) const;

  // Opens the file again and swaps it in; on error the running database stays.
  absl::Status Reload();
  // Reload() when the file's inode, size or mtime differ from the open one; OK otherwise.
  absl::Status ReloadIfChanged();

  const std::string& path() const { return path_; }
  const MmdbCounters& counters() const { return counters_; }

 private:
  struct FileId {
    ino_t inode = 0;
    off_t size = 0;
    int64_t mtime_ns = 0;
    friend bool operator==(const FileId&, const FileId&) = default;
  };
  MmdbLocator(std::string path, MmdbMapping mapping)
      : path_(std::move(path)), mapping_(std::move(mapping)) {}
  static absl::StatusOr<FileId> Stat(const std::string& path);
  absl::Status ReloadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  std::optional<Location> Place(const MmdbRecord& record) const;

  const std::string path_;
  const MmdbMapping mapping_;
  std::atomic<std::shared_ptr<const MmdbDatabase>> db_;
  absl::Mutex reload_mu_;  // SIGHUP and the file watcher may reload at once; never Lookup
  FileId opened_ ABSL_GUARDED_BY(reload_mu_);
  mutable MmdbCounters counters_;
};

}  // namespace prewarm::geo
