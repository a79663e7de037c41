#include "workload/http_request.h"

#include "gtest/gtest.h"

namespace prewarm::workload {
namespace {

using Parse = RequestHead::Parse;

TEST(ParseRequestHeadTest, ParsesGetWithKeepAliveDefaultForHttp11) {
  RequestHead h = ParseRequestHead("GET /a.html HTTP/1.1\r\nHost: x\r\n\r\nGET /b");
  ASSERT_EQ(h.parse, Parse::kOk);
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "/a.html");
  EXPECT_TRUE(h.keep_alive);
  EXPECT_FALSE(h.has_body);
  EXPECT_EQ(h.head_bytes, 33u);
}

TEST(ParseRequestHeadTest, ConnectionHeadersDecideKeepAlive) {
  EXPECT_FALSE(ParseRequestHead("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
  EXPECT_FALSE(ParseRequestHead("GET / HTTP/1.0\r\n\r\n").keep_alive);
  EXPECT_TRUE(ParseRequestHead("GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n").keep_alive);
}

TEST(ParseRequestHeadTest, IncompleteBadTooLargeAndBodies) {
  EXPECT_EQ(ParseRequestHead("GET / HTTP/1.1\r\nHost:").parse, Parse::kIncomplete);
  EXPECT_EQ(ParseRequestHead("GARBAGE\r\n\r\n").parse, Parse::kBad);
  EXPECT_EQ(ParseRequestHead("GET / HTTP/2.0\r\n\r\n").parse, Parse::kBad);
  EXPECT_EQ(ParseRequestHead("GET / HTTP/1.1\r\nNoColon\r\n\r\n").parse, Parse::kBad);
  EXPECT_EQ(ParseRequestHead(std::string(kMaxRequestHead + 1, 'a')).parse, Parse::kTooLarge);
  EXPECT_TRUE(ParseRequestHead("GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n").has_body);
  EXPECT_FALSE(ParseRequestHead("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").has_body);
  EXPECT_TRUE(ParseRequestHead("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").has_body);
}

TEST(TargetToRelativePathTest, NormalizesAndDecodes) {
  EXPECT_EQ(TargetToRelativePath("/"), "");
  EXPECT_EQ(TargetToRelativePath("/a//b/c.txt?x=1#f"), "a/b/c.txt");
  EXPECT_EQ(TargetToRelativePath("/hello%20world.txt"), "hello world.txt");
  EXPECT_EQ(TargetToRelativePath("/dir/"), "dir");
}

TEST(TargetToRelativePathTest, RejectsTraversalAndJunk) {
  EXPECT_FALSE(TargetToRelativePath("/../etc/passwd").has_value());
  EXPECT_FALSE(TargetToRelativePath("/a/%2e%2e/%2e%2e/etc").has_value());
  EXPECT_FALSE(TargetToRelativePath("/a/./b").has_value());
  EXPECT_FALSE(TargetToRelativePath("relative").has_value());
  EXPECT_FALSE(TargetToRelativePath("/a%00b").has_value());
  EXPECT_FALSE(TargetToRelativePath("/a%2").has_value());
  EXPECT_FALSE(TargetToRelativePath("/a\\..\\b").has_value());
}

TEST(ContentTypeForTest, KnowsCommonTypes) {
  EXPECT_EQ(ContentTypeFor("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("live/stream.m3u8"), "application/vnd.apple.mpegurl");
  EXPECT_EQ(ContentTypeFor("seg1.TS"), "video/mp2t");
  EXPECT_EQ(ContentTypeFor("app.wasm"), "application/wasm");
  EXPECT_EQ(ContentTypeFor("v.d/noext"), "application/octet-stream");
}

}  // namespace
}  // namespace prewarm::workload
