#include "common/content_id.h"

#include <string>

#include "gtest/gtest.h"

namespace prewarm {
namespace {

TEST(ContentIdTest, AcceptsRelativePathsUnderTheDirectory) {
  EXPECT_TRUE(ValidateContentId("video/seg-001.ts").ok());
  EXPECT_TRUE(ValidateContentId("a").ok());
  EXPECT_TRUE(ValidateContentId("a..b/c.").ok());  // dots inside a name are not a segment
  EXPECT_TRUE(ValidateContentId(std::string(kMaxContentIdBytes, 'x')).ok());
}

TEST(ContentIdTest, RejectsEveryWayOutOfTheDirectory) {
  for (std::string_view bad : {"", "/etc/passwd", "..", "a/../../b", "a/..", "./a", "a//b", "a/",
                               "a\\..\\b", "a?b", "a#b", "a%2e%2e/b"}) {
    absl::Status st = ValidateContentId(bad);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(ValidateContentId(std::string("a\0b", 3)).ok());
  EXPECT_FALSE(ValidateContentId("a\nb").ok());
  EXPECT_FALSE(ValidateContentId("a\x7f").ok());
  EXPECT_FALSE(ValidateContentId(std::string(kMaxContentIdBytes + 1, 'x')).ok());
}

TEST(ContentIdTest, ErrorsNameTheIdWithControlBytesEscaped) {
  absl::Status st = ValidateContentId("a\x01/../b");
  EXPECT_EQ(st.message(), "bad content id 'a\\x01/../b': control character");
}

TEST(ContentIdTest, PathBecomesIdWithoutSlashAndQuery) {
  EXPECT_EQ(*ContentIdFromPath("/style2.css?v=3"), "style2.css");
  EXPECT_EQ(*ContentIdFromPath("/a/b#frag"), "a/b");
  EXPECT_EQ(*ContentIdFromPath("/"), "index.html");
  EXPECT_EQ(*ContentIdFromPath("/projects/x/?a"), "projects/x/index.html");
  EXPECT_FALSE(ContentIdFromPath("//").ok());
  EXPECT_FALSE(ContentIdFromPath("relative").ok());
  EXPECT_FALSE(ContentIdFromPath("/a/../../etc/passwd").ok());
}

}  // namespace
}  // namespace prewarm
