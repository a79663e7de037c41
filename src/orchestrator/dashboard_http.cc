#include "orchestrator/dashboard_http.h"

#include <httplib.h>
#include <pthread.h>

#include <charconv>
#include <chrono>
#include <memory>

#include "fmt/format.h"
#include "orchestrator/ui_assets.h"

namespace prewarm::orchestrator {
namespace {

constexpr auto kSamplePeriod = std::chrono::seconds(1);

const UiAsset* FindAsset(std::string_view path) {
  for (const UiAsset& a : UiAssets()) {
    if (a.path == path) return &a;
  }
  return nullptr;
}

// ?since=MS, or 0 when absent or not a number.
int64_t SinceParam(const httplib::Request& req) {
  if (!req.has_param("since")) return 0;
  const std::string v = req.get_param_value("since");
  int64_t out = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return ec == std::errc() && end == v.data() + v.size() ? out : 0;
}

// Releases a stream's slot when the last copy of its content provider goes.
class StreamSlot {
 public:
  explicit StreamSlot(std::atomic<int>& count) : count_(count) {}
  ~StreamSlot() { count_.fetch_sub(1); }
  StreamSlot(const StreamSlot&) = delete;
  StreamSlot& operator=(const StreamSlot&) = delete;

 private:
  std::atomic<int>& count_;
};

}  // namespace

DashboardServer::~DashboardServer() { Stop(); }

void DashboardServer::Mount(httplib::Server& http) {
  http.Get("/ui",
           [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/ui/"); });
  http.Get("/ui/state", [this](const httplib::Request& req, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(dashboard_.StateJson(SinceParam(req)), "application/json");
  });
  http.Get("/ui/events", [this](const httplib::Request&, httplib::Response& res) {
    if (streams_.fetch_add(1) >= kMaxStreams) {
      streams_.fetch_sub(1);
      res.status = 503;
      res.set_header("Retry-After", "5");
      res.set_content(fmt::format("at most {} dashboard streams at once\n", kMaxStreams),
                      "text/plain");
      return;
    }
    auto slot = std::make_shared<StreamSlot>(streams_);
    auto st = std::make_shared<StreamState>();
    res.set_header("Cache-Control", "no-store");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, slot, st](size_t, httplib::DataSink& sink) { return NextEvent(*st, sink); });
  });
  http.Get(R"(/ui/(.*))", [](const httplib::Request& req, httplib::Response& res) {
    std::string path = req.matches[1].str();
    if (path.empty()) path = "index.html";
    const UiAsset* a = FindAsset(path);
    if (a == nullptr) {
      res.status = 404;
      res.set_content("no such dashboard file\n", "text/plain");
      return;
    }
    res.set_content(std::string(a->data), std::string(a->content_type));
  });
}

void DashboardServer::Start() {
  SampleOnce();  // the page has something to show from the first request
  thread_ = std::thread([this] { Loop(); });
}

void DashboardServer::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DashboardServer::Loop() {
  pthread_setname_np(pthread_self(), "orch-dash");
  for (;;) {
    {
      std::unique_lock<std::mutex> l(mu_);
      if (cv_.wait_for(l, kSamplePeriod, [&] { return stopping_; })) return;
    }
    SampleOnce();
  }
}

void DashboardServer::SampleOnce() {
  DashboardObservation obs = observe_();
  dashboard_.Record(obs);
  {
    std::lock_guard<std::mutex> l(mu_);
    ++sampled_;
    last_t_ = obs.now_ms;
  }
  cv_.notify_all();
}

bool DashboardServer::NextEvent(StreamState& st, httplib::DataSink& sink) {
  int64_t newest = 0;
  {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, kSamplePeriod, [&] { return stopping_ || sampled_ != st.seen; });
    if (stopping_) return false;
    if (sampled_ == st.seen) {
      l.unlock();
      return sink.write(":\n\n", 3);  // a comment: finds a client that has gone
    }
    st.seen = sampled_;
    newest = last_t_;
  }
  // A sample recorded after `newest` was read may be in this event and the next: the page
  // keeps one point per time.
  std::string event = "event: state\ndata: ";
  event += dashboard_.StateJson(st.since < 0 ? 0 : st.since);
  event += "\n\n";
  st.since = newest;
  return sink.write(event.data(), event.size());
}

}  // namespace prewarm::orchestrator
