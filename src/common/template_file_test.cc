#include "common/template_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace prewarm {
namespace {

class TemplateDirTest : public ::testing::Test {
 protected:
  TemplateDirTest() {
    char tmpl[] = "/tmp/prewarm-template-dir.XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  ~TemplateDirTest() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& file, const std::string& text) {
    std::ofstream(dir_ + "/" + file) << text;
  }
  std::string dir_;
};

TEST_F(TemplateDirTest, ReadsEveryYamlFileInNameOrder) {
  Write("b.yaml", "name: video\ncommand: [/bin/true]\n");
  Write("a.yml", "name: static\ncommand: [/bin/true]\n");
  Write("README", "not a template");
  std::filesystem::create_directory(dir_ + "/old.yaml");  // a directory, not a file
  auto files = ReadTemplateDir(dir_);
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ(*(*files)[0].String("name"), "static");
  EXPECT_EQ(*(*files)[1].String("name"), "video");
}

TEST_F(TemplateDirTest, ANameDefinedTwiceNamesBothFiles) {
  Write("a.yaml", "name: static\n");
  Write("b.yaml", "name: static\n");
  auto files = ReadTemplateDir(dir_);
  ASSERT_FALSE(files.ok());
  const std::string why(files.status().message());
  EXPECT_NE(why.find(dir_ + "/b.yaml"), std::string::npos) << why;
  EXPECT_NE(why.find("also defined in " + dir_ + "/a.yaml"), std::string::npos) << why;
}

TEST_F(TemplateDirTest, AMissingEmptyOrBrokenDirectoryIsAClearError) {
  auto missing = ReadTemplateDir(dir_ + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("template_dir " + dir_ + "/nope"), std::string::npos);
  auto empty = ReadTemplateDir(dir_);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("no template file"), std::string::npos);
  Write("a.yaml", "command: [/bin/true]\n");
  auto nameless = ReadTemplateDir(dir_);
  ASSERT_FALSE(nameless.ok());
  EXPECT_NE(nameless.status().message().find("name"), std::string::npos);
  Write("a.yaml", "name: [unclosed\n");
  EXPECT_FALSE(ReadTemplateDir(dir_).ok());
}

TEST(TemplateServingTest, DefaultsAndValuesWithTheirLimits) {
  auto none = YamlReader::FromString("name: static\n", "t.yaml");
  ASSERT_TRUE(none.ok());
  auto d = ParseTemplateServing(*none);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->tier, "standard");
  EXPECT_EQ(d->concurrency, 10u);
  EXPECT_EQ(d->keepalive_ms, 0);
  auto set = YamlReader::FromString(
      "name: video\ntier: premium\nservice_time_s: 2.5\nconcurrency: 4\nkeepalive_s: 90\n"
      "start_time_s: 0.4\n",
      "t.yaml");
  ASSERT_TRUE(set.ok());
  auto s = ParseTemplateServing(*set);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->tier, "premium");
  EXPECT_DOUBLE_EQ(s->service_time_s, 2.5);
  EXPECT_EQ(s->concurrency, 4u);
  EXPECT_EQ(s->keepalive_ms, 90'000);
  EXPECT_DOUBLE_EQ(s->start_time_s, 0.4);
  for (const char* bad : {"concurrency: 0", "service_time_s: .nan", "keepalive_s: -1",
                          "start_time_s: 1e9", "tier: ''"}) {
    auto r = YamlReader::FromString(std::string("name: x\n") + bad + "\n", "t.yaml");
    ASSERT_TRUE(r.ok()) << bad;
    auto st = ParseTemplateServing(*r);
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_NE(st.status().message().find("t.yaml"), std::string::npos) << bad;
  }
}

}  // namespace
}  // namespace prewarm
