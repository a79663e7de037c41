// NodeSessions: the agent streams this replica holds. For each stream it
// - authenticates the agent: with TLS its node id and address range come from its
//   certificate (or the range from the `nodes:` config), never from its Register, and a
//   second registration of a node that a live stream holds is refused;
// - writes the node's record under a lease that each status report keeps alive, so a dead
//   or frozen agent's instances leave every replica's answers within the lease TTL;
// - turns the agent's reports into the instances' fate in the store: GONE and FAILED
//   forget the instance, a failed start backs the node off for that template (a crash
//   after serving does not), an instance nobody ordered is adopted, one the agent no
//   longer reports is forgotten;
// - relays the commands the records imply: CreateInstance for a new record on its node,
//   DestroyInstance once the leader ordered it, PreloadContent once the leader gave a
//   ready instance a content list with ids it was not given (ContentRefresh): those ids,
//   with the whole list. Each at most once per stream and change; the agent ignores a
//   Create for an instance it has and fetches no content it holds. What a stream gave each
//   instance is remembered from its Create or last PreloadContent; an instance a stream
//   first sees running (a reconnect, another replica's create) is sent its record's whole
//   list once, in case a refresh happened while its agent was away;
// - passes the per-content counts of each status (NodeStatus.content) to the event feed
//   with the node's registered region, and keeps them out of the node's record;
// - asks an agent for an instance's output (FetchLogs down its stream) and hands the
//   answer (Logs up the same stream) to the caller waiting for it.
//
// Threads: each stream's gRPC handler calls Open, Report and Close; the watch thread calls
// OnChange. Each session has its own mutex.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "autoscale/service_time.h"
#include "common/clock.h"
#include "orchestrator/cluster_cache.h"
#include "orchestrator/cluster_writer.h"
#include "orchestrator/config.h"
#include "orchestrator/event_feed.h"
#include "orchestrator/history.h"
#include "orchestrator/presence.h"
#include "prewarm/v1/agent.pb.h"
#include "security/tls.h"

namespace prewarm::orchestrator {

// The command channel to one connected agent. Send() must not block for long.
class NodeLink {
 public:
  virtual ~NodeLink() = default;
  virtual void Send(const v1::OrchestratorCommand& cmd) = 0;
};

struct SessionCounters {
  uint64_t registrations = 0;
  uint64_t refused = 0;         // registrations refused (identity, duplicate, invalid)
  uint64_t start_failures = 0;  // instances that never became ready
  uint64_t crashes = 0;         // instances that failed after serving
  uint64_t adopted = 0;
  uint64_t forgotten = 0;  // GONE, FAILED or no longer reported
  uint64_t creates_sent = 0;
  uint64_t destroys_sent = 0;
  // By template: PreloadContent commands sent, and the content ids they asked to fetch.
  std::map<std::string, uint64_t> preloads_sent;
  std::map<std::string, uint64_t> preload_ids_sent;
};

class NodeSession;

class NodeSessions {
 public:
  NodeSessions(const OrchestratorConfig& config, const Clock& clock, ClusterCache& cache,
               ClusterWriter& writer, Presence& presence, ServiceTimeMeter* service_times);
  ~NodeSessions();

  // A stream's Register and the status that follows it (the agent sends both at once):
  // the node's record is created with that status, so its instances never leave the
  // answers while it moves between replicas. Errors: PermissionDenied (identity),
  // InvalidArgument (the registration), FailedPrecondition (a live stream holds the node),
  // Unavailable (store).
  absl::StatusOr<std::shared_ptr<NodeSession>> Open(v1::Register reg, const v1::NodeStatus& first,
                                                    const security::Peer& peer,
                                                    std::shared_ptr<NodeLink> link);
  // A status on that stream. An error ends the stream.
  absl::Status Report(NodeSession& s, const v1::NodeStatus& status);
  // The stream ended: its node record goes at once (its lease is revoked).
  void Close(NodeSession& s);

  // Asks the agent of `node`, on a stream this replica holds, for the output of `instance`
  // and waits up to `timeout_ms` for its answer. Errors: NotFound (no agent of that name is
  // connected), Unavailable (its agent is connected to another replica, named with its
  // address; or the stream closed before the answer), DeadlineExceeded (no answer).
  absl::StatusOr<v1::Logs> FetchLogs(const std::string& node, const std::string& instance,
                                     uint32_t tail_lines, int64_t timeout_ms);
  // The replica that holds `node`'s agent stream when that is another one, as its record
  // says: its id and gRPC address (where a logs request is forwarded). nullopt when this
  // replica holds the stream, no record names the node, or the holder's address is unknown.
  struct Holder {
    std::string replica_id;
    std::string grpc_address;
  };
  std::optional<Holder> RemoteHolder(const std::string& node) const;
  // An answer on the stream of `s`; one for a request it was not asked is dropped.
  void Answer(NodeSession& s, const v1::Logs& logs);

  void OnChange(const ClusterData& before, const ClusterData& after, const ClusterChange& change);
  SessionCounters counters() const;
  int connected() const;
  // Every report is recorded there (cluster.history_log); nullptr: none.
  void SetHistory(HistoryRecorder* history) { history_ = history; }
  // Where the agents' content counts go (the forecasters' event stream); nullptr: dropped.
  void SetContentFeed(EventFeed* feed) { content_feed_ = feed; }

 private:
  absl::StatusOr<v1::Register> Authenticate(v1::Register reg, const security::Peer& peer) const;
  absl::Status Register(NodeSession& s);
  void ApplyInstances(NodeSession& s, const v1::NodeStatus& status, const ClusterData& d);
  void Fail(NodeSession& s, const v1::InstanceStatus& st, const StoredPtr<v1::InstanceRecord>& rec);
  void Adopt(NodeSession& s, const v1::InstanceStatus& st);
  void Forget(NodeSession& s, const v1::InstanceRecord& rec, const std::string& why);
  absl::Status KeepAndWrite(NodeSession& s, const v1::NodeStatus& status);
  void Relay(NodeSession& s, const ClusterData& d);
  // A PreloadContent for a ready instance whose record lists content this stream has not
  // given it; false when there is nothing to send.
  bool PreloadCommand(NodeSession& s, const v1::InstanceRecord& rec, v1::OrchestratorCommand& cmd);
  void IntegrateConnections(NodeSession& s, const v1::NodeStatus& status);
  void Count(uint64_t SessionCounters::*field);

  const OrchestratorConfig& config_;
  const Clock& clock_;
  ClusterCache& cache_;
  ClusterWriter& writer_;
  Presence& presence_;
  ServiceTimeMeter* service_times_;
  HistoryRecorder* history_ = nullptr;
  EventFeed* content_feed_ = nullptr;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<NodeSession>> sessions_;  // guarded by mu_
  SessionCounters counters_;                                      // guarded by mu_
  // FetchLogs calls waiting for their answer, by request id (guarded by mu_).
  struct PendingLogs {
    std::string node;
    std::optional<absl::StatusOr<v1::Logs>> answer;
  };
  std::map<uint64_t, PendingLogs> pending_logs_;
  uint64_t next_logs_request_ = 1;  // guarded by mu_
  std::condition_variable logs_cv_;
};

}  // namespace prewarm::orchestrator
