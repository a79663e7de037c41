#include "agent/runtime/qemu/qmp.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <thread>

#include "agent/runtime/qemu/unix_listener_testutil.h"
#include "fmt/format.h"

namespace prewarm::agent::qemu {
namespace {

namespace fs = std::filesystem;

// A QMP server on a unix socket standing in for QEMU: greets, then answers each command
// line with the next of `replies` (a line of its own, events included), after reading
// the whole batch the client sent in one write. It keeps the descriptor that came with
// the batch.
class FakeQmp {
 public:
  explicit FakeQmp(std::vector<std::string> replies)
      : path_(testing::UnixSocketPath("prewarm-qmp")),
        replies_(std::move(replies)),
        listen_(testing::ListenUnix(path_)) {
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeQmp() {
    Join();
    ::unlink(path_.c_str());
  }
  // Waits until the server is done (its script answered or the client hung up).
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  const std::string& path() const { return path_; }
  std::vector<std::string> commands;  // as received (after the server is done)
  std::vector<size_t> reads_per_batch;
  int received_fd = -1;

 private:
  void Send(int c, const std::string& line) {
    std::string l = line + "\r\n";
    (void)!::send(c, l.data(), l.size(), MSG_NOSIGNAL);
  }
  void Serve() {
    ScopedFd c(::accept(listen_.get(), nullptr, nullptr));
    Send(c.get(), R"({"QMP": {"version": {}, "capabilities": []}})");
    std::string buf;
    size_t next = 0;
    for (;;) {
      char data[4096];
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
      iovec iov{data, sizeof data};
      msghdr mh{};
      mh.msg_iov = &iov;
      mh.msg_iovlen = 1;
      mh.msg_control = control;
      mh.msg_controllen = sizeof control;
      ssize_t n = ::recvmsg(c.get(), &mh, 0);
      if (n <= 0) return;
      for (cmsghdr* h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
        if (h->cmsg_type == SCM_RIGHTS) std::memcpy(&received_fd, CMSG_DATA(h), sizeof(int));
      }
      buf.append(data, static_cast<size_t>(n));
      size_t in_batch = 0;
      for (size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
        commands.push_back(buf.substr(0, nl));
        buf.erase(0, nl + 1);
        ++in_batch;
      }
      reads_per_batch.push_back(in_batch);
      // qmp_capabilities first, then the script's replies, one line per command; a reply
      // starting with "event:" is sent before the next reply.
      for (size_t i = 0; i < in_batch; ++i) {
        if (commands.size() - in_batch + i == 0) {
          Send(c.get(), R"({"return": {}})");
          continue;
        }
        while (next < replies_.size() && replies_[next].starts_with("event:"))
          Send(c.get(), replies_[next++].substr(6));
        if (next < replies_.size()) Send(c.get(), replies_[next++]);
      }
      while (next < replies_.size() && replies_[next].starts_with("event:"))
        Send(c.get(), replies_[next++].substr(6));
      if (next >= replies_.size()) return;
    }
  }
  std::string path_;
  std::vector<std::string> replies_;
  ScopedFd listen_;
  std::thread thread_;
};

TEST(QmpPipelineTest, SendsEveryCommandInOneWriteWithTheFdAndReadsTheRepliesInOrder) {
  FakeQmp server({R"({"return": {}})", R"({"return": {}})",
                  R"({"event": "MIGRATION", "data": {"status": "active"}})"
                  "\r\n"
                  R"({"return": {"status": "inmigrate", "running": false}})"});
  auto qmp = QmpClient::Connect(server.path(), std::chrono::seconds(10));
  ASSERT_TRUE(qmp.ok()) << qmp.status();
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ScopedFd r(fds[0]), w(fds[1]);
  auto replies = qmp->Pipeline({{"getfd", R"({"fdname": "state"})"},
                                {"migrate-incoming", R"({"uri": "fd:state"})"},
                                {"query-status", ""}},
                               r.get());
  ASSERT_TRUE(replies.ok()) << replies.status();
  ASSERT_EQ(replies->size(), 3u);
  EXPECT_EQ(replies->back().struct_value().fields().at("status").string_value(), "inmigrate")
      << "the event in between is skipped";
  qmp = absl::UnavailableError("closed");  // hang up: the server's thread ends
  server.Join();
  ASSERT_EQ(server.commands.size(), 4u);
  EXPECT_NE(server.commands[1].find(R"("execute": "getfd")"), std::string::npos);
  EXPECT_EQ(server.reads_per_batch.back(), 3u) << "the three commands came in one write";
  EXPECT_GE(server.received_fd, 0) << "the descriptor came with them";
  if (server.received_fd >= 0) ::close(server.received_fd);
}

TEST(QmpPipelineTest, AnErrorReplyFailsThePipelineNamingTheCommand) {
  FakeQmp server({R"({"return": {}})",
                  R"({"error": {"class": "GenericError", "desc": "no such fd"}})",
                  R"({"return": {"status": "paused"}})"});
  auto qmp = QmpClient::Connect(server.path(), std::chrono::seconds(10));
  ASSERT_TRUE(qmp.ok()) << qmp.status();
  auto replies = qmp->Pipeline({{"migrate-set-capabilities", R"({"capabilities": []})"},
                                {"migrate-incoming", R"({"uri": "fd:state"})"},
                                {"query-status", ""}});
  ASSERT_FALSE(replies.ok());
  EXPECT_NE(replies.status().message().find("QMP migrate-incoming: no such fd"), std::string::npos)
      << replies.status();
  // A getfd without a descriptor is refused before anything is sent.
  auto bad = qmp->Pipeline({{"getfd", R"({"fdname": "x"})"}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  qmp = absl::UnavailableError("closed");
}

TEST(QmpPipelineTest, ARESUMEEventEndsTheWaitForTheIncomingMigration) {
  // query-status says inmigrate; RESUME follows; no second query is needed.
  FakeQmp server(
      {R"({"return": {"status": "inmigrate"}})", R"(event:{"event": "RESUME", "data": {}})"});
  auto qmp = QmpClient::Connect(server.path(), std::chrono::seconds(10));
  ASSERT_TRUE(qmp.ok()) << qmp.status();
  auto status = qmp->WaitStatusLeaves("inmigrate", std::chrono::seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, "running");
  qmp = absl::UnavailableError("closed");
}

}  // namespace
}  // namespace prewarm::agent::qemu
