#include "agent/origin.h"

#include <httplib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "fmt/format.h"
#include "workload/queue_wait.h"

namespace prewarm::agent {
namespace {

// 404 / 410: the origin does not have it (that preload fails). 5xx: the origin is not
// working (like unreachable). Anything else: this fetch failed.
absl::Status HttpError(int status, const std::string& what) {
  if (status == 404 || status == 410) return absl::NotFoundError(what);
  if (status >= 500) return absl::UnavailableError(what);
  return absl::FailedPreconditionError(what);
}

class HttpOrigin final : public Origin {
 public:
  // httplib::Client takes scheme://host:port; any path in the base URL is a prefix of
  // every content path. The URL is split once here.
  explicit HttpOrigin(std::string base) {
    while (!base.empty() && base.back() == '/') base.pop_back();
    size_t scheme = base.find("://");
    size_t slash = base.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    host_ = slash == std::string::npos ? base : base.substr(0, slash);
    prefix_ = slash == std::string::npos ? "" : base.substr(slash);
  }

  absl::Status FetchTo(const std::string& id, const std::string& dest) override {
    RETURN_IF_ERROR(ValidateContentId(id));
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(dest).parent_path(), ec);
    std::string tmp = dest + ".part";
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::InternalError(fmt::format("cannot write {}", tmp));
    httplib::Client client(host_);
    client.set_connection_timeout(2, 0);
    client.set_read_timeout(30, 0);
    std::string path = prefix_ + "/" + id;
    int write_errno = 0;
    auto res = client.Get(path, [&](const char* data, size_t len) {
      out.write(data, static_cast<std::streamsize>(len));
      if (!out) write_errno = errno != 0 ? errno : EIO;
      return static_cast<bool>(out);
    });
    out.close();
    if (write_errno == 0 && out.fail()) write_errno = errno != 0 ? errno : EIO;  // the flush
    if (write_errno != 0) {
      std::remove(tmp.c_str());
      // A full scratch is not an origin failure: the agent may make room and retry.
      if (write_errno == ENOSPC || write_errno == EDQUOT) {
        return absl::ResourceExhaustedError(fmt::format("writing {}: no space left", dest));
      }
      return absl::InternalError(fmt::format("writing {}: {}", dest, std::strerror(write_errno)));
    }
    if (!res) {
      std::remove(tmp.c_str());
      return absl::UnavailableError(
          fmt::format("origin {}{}: {}", host_, path, httplib::to_string(res.error())));
    }
    if (res->status != 200) {
      std::remove(tmp.c_str());
      return HttpError(res->status, fmt::format("origin {}{}: HTTP {}", host_, path, res->status));
    }
    std::filesystem::rename(tmp, dest, ec);
    if (ec) return absl::InternalError(fmt::format("rename {}: {}", dest, ec.message()));
    return absl::OkStatus();
  }

 private:
  std::string host_;    // scheme://host:port
  std::string prefix_;  // path of the base URL, "" or "/x/y"
};

class HttpProber final : public Prober {
 public:
  bool Probe(const IpAddr& addr, uint16_t port, const std::string& path, int timeout_ms) override {
    httplib::Client client(addr.ToString(), port);
    client.set_connection_timeout(0, static_cast<time_t>(timeout_ms) * 1000);
    client.set_read_timeout(0, static_cast<time_t>(timeout_ms) * 1000);
    // Marked, so the workload does not count the probe as demand for the probed content.
    auto res = client.Get(path, {{workload::kProbeHeader, "1"}});
    return res && res->status >= 200 && res->status < 400;
  }
};

}  // namespace

std::unique_ptr<Origin> MakeHttpOrigin(const std::string& base_url) {
  return std::make_unique<HttpOrigin>(base_url);
}

std::unique_ptr<Prober> MakeHttpProber() { return std::make_unique<HttpProber>(); }

}  // namespace prewarm::agent
