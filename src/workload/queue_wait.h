// How long a request waited for the workload that answers it. With socket activation the
// agent holds the instance's listening socket before the workload runs: a client that
// connects during a start is queued by the kernel, and its request is answered once the
// workload is up. That wait is what a cold start costs the client, and only the workload
// can see it: the kernel knows when the request's bytes arrived (TCP_INFO's
// tcpi_last_data_recv, in ms), the workload knows when it started serving.
//
// Workloads send it on a connection's first response as `X-Prewarm-Queued-Ms`; 0 means the
// request arrived after the workload was up (warm). `prewarm replay` counts a request as
// cold when it is above 0. libc only: prewarm-httpd is linked statically.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>

namespace prewarm::workload {

inline constexpr const char* kQueuedHeader = "X-Prewarm-Queued-Ms";
// Sent by the agent's probes: the workload serves them as any request but does not count
// them as demand for their content (content reports, trending, preload hits).
inline constexpr const char* kProbeHeader = "X-Prewarm-Probe";

// For connection `fd`, after its first request was read: milliseconds its last received
// bytes waited before `serving_since`, or 0 when they came later (or TCP_INFO fails).
inline int64_t QueuedBeforeStartMs(int fd, std::chrono::steady_clock::time_point serving_since) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
  const int64_t up_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - serving_since)
                            .count();
  const int64_t waited = static_cast<int64_t>(info.tcpi_last_data_recv) - up_ms;
  return waited > 0 ? waited : 0;
}

}  // namespace prewarm::workload
