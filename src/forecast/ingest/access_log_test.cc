#include "forecast/ingest/access_log.h"

#include "fmt/format.h"
#include "forecast/ingest/ingest.h"  // the umbrella header compiles on its own
#include "forecast/ingest/timestamp.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace prewarm::forecast::ingest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

absl::StatusOr<AccessLogCounts> Read(std::string text, const AccessLogOptions& options = {}) {
  return ReadAccessLog(LineSource::FromString("access.log", std::move(text)), options);
}

TEST(AccessLog, ParsesCommonAndCombinedLines) {
  auto common = ParseAccessLogLine(
      R"(127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326)");
  ASSERT_TRUE(common.ok()) << common.status();
  EXPECT_EQ(FormatIsoUtc(common->unix_ms), "2000-10-10T20:55:36Z");
  EXPECT_EQ(common->method, "GET");
  EXPECT_EQ(common->path, "/apache_pb.gif");
  EXPECT_EQ(common->status, 200);
  EXPECT_EQ(common->host, "");

  auto combined = ParseAccessLogLine(
      R"x(www.example.com:443 10.0.0.1 - - [10/Oct/2000:13:55:36 +0200] "POST /api/x?id=3 HTTP/1.1" 304 - "http://ref/" "Mozilla/5.0 (\"quoted\")")x");
  ASSERT_TRUE(combined.ok()) << combined.status();
  EXPECT_EQ(combined->host, "www.example.com");
  EXPECT_EQ(combined->path, "/api/x?id=3");
  EXPECT_EQ(FormatIsoUtc(combined->unix_ms), "2000-10-10T11:55:36Z");

  auto proxy = ParseAccessLogLine(
      R"(1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET http://Cdn.Example:8080/v/1.mp4 HTTP/1.1" 200 5)");
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  EXPECT_EQ(proxy->host, "Cdn.Example");
  EXPECT_EQ(proxy->path, "/v/1.mp4");
}

TEST(AccessLog, MalformedLinesAreCountedWithTheirLine) {
  auto counts = Read(
      "1.1.1.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 1\n"
      "1.1.1.1 - - [31/Feb/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 1\n"   // no such date
      "1.1.1.1 - - [10/Oct/2000:13:55:36 -07:00] \"GET / HTTP/1.0\" 200 1\n"  // zone form
      "1.1.1.1 - - [10/Oct/2000:13:55:36 -0700] \"-\" 408 -\n"                // no request
      "1.1.1.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0 200 1\n"     // open quote
      "1.1.1.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" OK 1\n"
      "not a log line at all\n"
      "\n"
      "1.1.1.1 - - [10/Oct/2000:13:56:10 -0700] \"GET /b HTTP/1.0\" 404 -\n");
  ASSERT_TRUE(counts.ok()) << counts.status();
  const ReadReport& r = counts->report;
  EXPECT_EQ(r.lines, 8u);
  EXPECT_EQ(r.rows, 2u);
  EXPECT_EQ(r.bad_lines, 6u);
  ASSERT_EQ(r.first_errors.size(), 6u);
  EXPECT_THAT(r.first_errors[0], HasSubstr("access.log:2: bad CLF calendar date"));
  EXPECT_THAT(r.first_errors[1], HasSubstr("access.log:3: "));
  EXPECT_THAT(r.first_errors[2], HasSubstr("access.log:4: malformed request line"));
  EXPECT_THAT(r.first_errors[3], HasSubstr("access.log:5: "));
  EXPECT_THAT(r.first_errors[4], HasSubstr("access.log:6: malformed status"));
  EXPECT_THAT(r.first_errors[5], HasSubstr("access.log:7: "));
}

TEST(AccessLog, RequestsPerStepInUtcAcrossZones) {
  AccessLogOptions o;
  o.step_ms = 60'000;
  auto counts = Read(
      // The same UTC minute 20:55 written in three zones, then 20:58 and one late 20:55.
      "a - - [10/Oct/2000:13:55:01 -0700] \"GET /x HTTP/1.1\" 200 1\n"
      "a - - [10/Oct/2000:22:55:59 +0200] \"GET /x HTTP/1.1\" 200 1\n"
      "a - - [11/Oct/2000:01:25:30 +0430] \"GET /y HTTP/1.1\" 200 1\n"
      "a - - [10/Oct/2000:20:58:00 +0000] \"GET /x?q=1 HTTP/1.1\" 200 1\n"
      "a - - [10/Oct/2000:20:55:40 +0000] \"GET /z HTTP/1.1\" 500 1\n",
      o);
  ASSERT_TRUE(counts.ok()) << counts.status();
  ASSERT_EQ(counts->series.size(), 1u);
  const Series& s = counts->series.at(Key{"", ""});
  EXPECT_EQ(FormatIsoUtc(s.start_ms), "2000-10-10T20:55:00Z");
  EXPECT_THAT(s.values, ElementsAre(4, 0, 0, 1));  // a quiet minute in a log is a zero
  EXPECT_EQ(counts->report.gaps, 0u);
  EXPECT_THAT(counts->top_paths, ElementsAre(Pair("/x", 3), Pair("/y", 1), Pair("/z", 1)));
  EXPECT_EQ(counts->distinct_paths, 3u);
}

TEST(AccessLog, TopKKeepsTheMostRequestedPaths) {
  AccessLogOptions o;
  o.top_k = 2;
  o.keep_query = true;
  std::string text;
  auto add = [&](std::string_view path, int n) {
    for (int i = 0; i < n; ++i) {
      text += fmt::format("a - - [10/Oct/2000:13:55:36 -0700] \"GET {} HTTP/1.1\" 200 1\n", path);
    }
  };
  add("/hot", 5);
  add("/warm?v=2", 3);
  add("/warm", 2);
  add("/cold", 1);
  auto counts = Read(text, o);
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_THAT(counts->top_paths, ElementsAre(Pair("/hot", 5), Pair("/warm?v=2", 3)));
  EXPECT_EQ(counts->distinct_paths, 4u);
}

TEST(AccessLog, ContentSizesComeFromWholeResponsesOfTheTopPaths) {
  AccessLogOptions o;
  o.top_k = 2;
  std::string text =
      "a - - [10/Oct/2000:13:55:36 -0700] \"GET /seg1.ts HTTP/1.1\" 206 100\n"
      "a - - [10/Oct/2000:13:55:37 -0700] \"GET /seg1.ts HTTP/1.1\" 200 188000\n"
      "a - - [10/Oct/2000:13:55:38 -0700] \"GET /seg1.ts HTTP/1.1\" 304 -\n"
      "a - - [10/Oct/2000:13:55:39 -0700] \"GET /index.m3u8 HTTP/1.1\" 304 -\n"
      "a - - [10/Oct/2000:13:55:39 -0700] \"GET /index.m3u8 HTTP/1.1\" 304 -\n"
      "a - - [10/Oct/2000:13:55:40 -0700] \"GET /rare HTTP/1.1\" 200 5\n";
  auto counts = Read(text, o);
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_THAT(counts->path_bytes, ElementsAre(Pair("/seg1.ts", 188000)))
      << "partial and not-modified responses say nothing of the size; /rare is not top-2";
}

TEST(AccessLog, TemplateRulesByPathPrefixAndHost) {
  AccessLogOptions o;
  o.region = "eu-west";
  o.templates = {{"", "/", "web"},
                 {"", "/api/", "api"},
                 {"", "/api/v2/", "api-v2"},
                 {"video.example", "/", "video"}};
  auto counts = Read(
      "a - - [10/Oct/2000:13:55:36 +0000] \"GET /index.html HTTP/1.1\" 200 1\n"
      "a - - [10/Oct/2000:13:55:36 +0000] \"GET /api/users HTTP/1.1\" 200 1\n"
      "a - - [10/Oct/2000:13:55:36 +0000] \"GET /api/v2/users HTTP/1.1\" 200 1\n"
      "Video.Example:443 a - - [10/Oct/2000:13:55:36 +0000] \"GET /api/v2/m HTTP/1.1\" 200 1\n"
      "a - - [10/Oct/2000:13:57:36 +0000] \"GET /api/z HTTP/1.1\" 200 1\n",
      o);
  ASSERT_TRUE(counts.ok()) << counts.status();
  ASSERT_EQ(counts->series.size(), 4u);
  EXPECT_THAT(counts->series.at(Key{"eu-west", "api"}).values, ElementsAre(1, 0, 1));
  EXPECT_EQ(counts->series.at(Key{"eu-west", "api"}).name, "eu-west/api");
  EXPECT_THAT(counts->series.at(Key{"eu-west", "api-v2"}).values, ElementsAre(1));
  EXPECT_THAT(counts->series.at(Key{"eu-west", "video"}).values, ElementsAre(1));
  EXPECT_THAT(counts->series.at(Key{"eu-west", "web"}).values, ElementsAre(1));

  o.templates = {{"", "/api/", "api"}};
  auto other = Read("a - - [10/Oct/2000:13:55:36 +0000] \"GET /x HTTP/1.1\" 200 1\n", o);
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->series.contains(Key{"eu-west", "other"}));
}

}  // namespace
}  // namespace prewarm::forecast::ingest
