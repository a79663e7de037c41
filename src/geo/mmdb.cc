#include "geo/mmdb.h"

#include <maxminddb.h>
#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>

#include "fmt/format.h"

namespace prewarm::geo {

struct MmdbDatabase::Handle {
  MMDB_s mmdb{};
  bool open = false;  // MMDB_open frees what it allocated when it fails: close only after success
  ~Handle() {
    if (open) MMDB_close(&mmdb);
  }
};

namespace {

std::string OpenError(const std::string& path, int rc) {
  if (rc == MMDB_IO_ERROR) {
    return fmt::format("geo database {}: {} ({})", path, MMDB_strerror(rc), std::strerror(errno));
  }
  return fmt::format("geo database {}: {}", path, MMDB_strerror(rc));
}

// Errors that mean "this record has no such field", as opposed to a damaged file.
bool Absent(int rc) {
  return rc == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR || rc == MMDB_INVALID_LOOKUP_PATH_ERROR;
}

// The value at a.b of `entry`: nullopt when the record has none, an error when the file is
// damaged.
absl::StatusOr<std::optional<MMDB_entry_data_s>> ReadValue(MMDB_entry_s& entry, const char* a,
                                                           const char* b) {
  MMDB_entry_data_s d{};
  int rc = MMDB_get_value(&entry, &d, a, b, nullptr);
  if (Absent(rc)) return std::nullopt;
  if (rc != MMDB_SUCCESS) {
    return absl::DataLossError(fmt::format("{}.{}: {}", a, b, MMDB_strerror(rc)));
  }
  if (!d.has_data) return std::nullopt;
  return d;
}

absl::StatusOr<std::optional<std::string>> ReadString(MMDB_entry_s& entry, const char* a,
                                                      const char* b) {
  ASSIGN_OR_RETURN(std::optional<MMDB_entry_data_s> d, ReadValue(entry, a, b));
  if (!d || d->type != MMDB_DATA_TYPE_UTF8_STRING) return std::nullopt;
  return std::string(d->utf8_string, d->data_size);
}

absl::StatusOr<std::optional<double>> ReadDouble(MMDB_entry_s& entry, const char* a,
                                                 const char* b) {
  ASSIGN_OR_RETURN(std::optional<MMDB_entry_data_s> d, ReadValue(entry, a, b));
  if (!d) return std::nullopt;
  if (d->type == MMDB_DATA_TYPE_DOUBLE) return d->double_value;
  if (d->type == MMDB_DATA_TYPE_FLOAT) return static_cast<double>(d->float_value);
  return std::nullopt;
}

absl::StatusOr<std::optional<GeoPoint>> ReadPoint(MMDB_entry_s& entry) {
  ASSIGN_OR_RETURN(std::optional<double> lat, ReadDouble(entry, "location", "latitude"));
  ASSIGN_OR_RETURN(std::optional<double> lon, ReadDouble(entry, "location", "longitude"));
  if (!lat || !lon || !std::isfinite(*lat) || !std::isfinite(*lon) || std::abs(*lat) > 90 ||
      std::abs(*lon) > 180) {
    return std::nullopt;
  }
  return GeoPoint{*lat, *lon};
}

}  // namespace

MmdbDatabase::MmdbDatabase(std::unique_ptr<Handle> h) : handle_(std::move(h)) {
  const MMDB_metadata_s& m = handle_->mmdb.metadata;
  if (m.database_type != nullptr) type_ = m.database_type;
  build_epoch_ = m.build_epoch;
}

MmdbDatabase::~MmdbDatabase() = default;

absl::StatusOr<std::unique_ptr<MmdbDatabase>> MmdbDatabase::Open(const std::string& path) {
  auto h = std::make_unique<Handle>();
  errno = 0;
  int rc = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &h->mmdb);
  if (rc != MMDB_SUCCESS) {
    std::string msg = OpenError(path, rc);
    return rc == MMDB_FILE_OPEN_ERROR ? absl::NotFoundError(msg) : absl::InvalidArgumentError(msg);
  }
  h->open = true;
  std::unique_ptr<MmdbDatabase> db(new MmdbDatabase(std::move(h)));
  // MMDB_open checks the metadata only: walk the tree once for a v4 and a v6 address so
  // that a damaged search tree is refused here instead of on the hot path.
  for (const char* probe : {"192.0.2.1", "2001:db8::1"}) {
    auto r = db->Lookup(*IpAddr::Parse(probe));
    if (!r.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("geo database {}: damaged: {}", path, r.status().message()));
    }
  }
  return db;
}

absl::StatusOr<std::optional<MmdbRecord>> MmdbDatabase::Lookup(const IpAddr& addr) const {
  socklen_t len = 0;
  sockaddr_storage ss = addr.ToSockaddr(0, &len);
  int rc = MMDB_SUCCESS;
  MMDB_lookup_result_s r =
      MMDB_lookup_sockaddr(&handle_->mmdb, reinterpret_cast<const sockaddr*>(&ss), &rc);
  if (rc == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR) return std::nullopt;
  if (rc != MMDB_SUCCESS) return absl::DataLossError(MMDB_strerror(rc));
  if (!r.found_entry) return std::nullopt;
  MmdbRecord rec;
  // An IPv4 address in an IPv6 tree lives under ::/96: its netmask counts those 96 bits.
  rec.prefix = r.netmask;
  if (addr.is_v4() && handle_->mmdb.metadata.ip_version == 6) rec.prefix -= 96;
  rec.prefix = std::clamp(rec.prefix, 0, addr.is_v4() ? 32 : 128);
  ASSIGN_OR_RETURN(std::optional<std::string> country, ReadString(r.entry, "country", "iso_code"));
  if (country) {
    for (char& c : *country) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    rec.country = std::move(*country);
  }
  ASSIGN_OR_RETURN(rec.point, ReadPoint(r.entry));
  return rec;
}

absl::StatusOr<std::unique_ptr<MmdbLocator>> MmdbLocator::Open(std::string path,
                                                               MmdbMapping mapping) {
  std::unique_ptr<MmdbLocator> loc(new MmdbLocator(std::move(path), std::move(mapping)));
  absl::MutexLock lock(&loc->reload_mu_);
  RETURN_IF_ERROR(loc->ReloadLocked());
  return loc;
}

absl::StatusOr<MmdbLocator::FileId> MmdbLocator::Stat(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(fmt::format("geo database {}: {}", path, std::strerror(errno)));
  }
  return FileId{st.st_ino, st.st_size,
                static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

absl::Status MmdbLocator::ReloadLocked() {
  ASSIGN_OR_RETURN(FileId id, Stat(path_));
  // Remembered even when the open fails, so a bad file is reported once, not every poll.
  opened_ = id;
  ASSIGN_OR_RETURN(std::unique_ptr<MmdbDatabase> db, MmdbDatabase::Open(path_));
  db_.store(std::shared_ptr<const MmdbDatabase>(std::move(db)), std::memory_order_release);
  return absl::OkStatus();
}

absl::Status MmdbLocator::Reload() {
  absl::MutexLock lock(&reload_mu_);
  absl::Status st = ReloadLocked();
  (st.ok() ? counters_.reloads : counters_.reload_failures).fetch_add(1);
  return st;
}

absl::Status MmdbLocator::ReloadIfChanged() {
  absl::MutexLock lock(&reload_mu_);
  absl::StatusOr<FileId> id = Stat(path_);
  if (!id.ok()) {
    if (opened_ == FileId{}) return absl::OkStatus();  // already reported
    opened_ = FileId{};
    counters_.reload_failures.fetch_add(1);
    return id.status();
  }
  if (*id == opened_) return absl::OkStatus();
  absl::Status st = ReloadLocked();
  (st.ok() ? counters_.reloads : counters_.reload_failures).fetch_add(1);
  return st;
}

std::optional<Location> MmdbLocator::Place(const MmdbRecord& record) const {
  if (!record.country.empty()) {
    auto it = mapping_.countries.find(record.country);
    if (it != mapping_.countries.end()) {
      return Location{it->second.region, record.point.value_or(it->second.point)};
    }
  }
  if (!record.point || mapping_.regions.empty()) return std::nullopt;
  const Location* nearest = nullptr;
  double best = std::numeric_limits<double>::infinity();
  for (const Location& r : mapping_.regions) {
    double km = GreatCircleKm(r.point, *record.point);
    if (km < best) {
      best = km;
      nearest = &r;
    }
  }
  return Location{nearest->region, *record.point};
}

std::optional<Located> MmdbLocator::Lookup(const IpAddr& addr) const {
  std::shared_ptr<const MmdbDatabase> db = db_.load(std::memory_order_acquire);
  if (db == nullptr) return std::nullopt;
  absl::StatusOr<std::optional<MmdbRecord>> rec = db->Lookup(addr);
  if (!rec.ok()) {
    counters_.lookup_errors.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  if (!rec->has_value()) return std::nullopt;
  std::optional<Location> where = Place(**rec);
  if (!where) return std::nullopt;
  return Located{std::move(*where), (*rec)->prefix};
}

}  // namespace prewarm::geo
