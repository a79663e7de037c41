#include "common/yaml_reader.h"

#include <gtest/gtest.h>

namespace prewarm {
namespace {

constexpr const char* kDoc = R"(
name: fra-1
slots: 8
ratio: 0.5
memory: 64MiB
on: true
list: [a, b]
nested:
  port: 80
items:
  - {id: 1}
  - {id: x}
)";

TEST(YamlReaderTest, ReadsTypedValuesAndDefaults) {
  auto r = YamlReader::FromString(kDoc, "t.yaml");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r->String("name"), "fra-1");
  EXPECT_EQ(*r->Int("slots", std::nullopt, 1, 100), 8);
  EXPECT_DOUBLE_EQ(*r->Double("ratio", std::nullopt, 0, 1), 0.5);
  EXPECT_EQ(*r->Bytes("memory", std::nullopt), 64ull << 20);
  EXPECT_TRUE(*r->Bool("on", false));
  EXPECT_EQ(r->StringList("list", std::nullopt)->size(), 2u);
  EXPECT_EQ(*r->String("absent", "dflt"), "dflt");
  auto nested = r->Map("nested");
  ASSERT_TRUE(nested.ok() && nested->has_value());
  EXPECT_EQ(*(*nested)->Int("port", std::nullopt, 1, 65535), 80);
}

TEST(YamlReaderTest, ErrorsNameFileLineAndField) {
  auto r = YamlReader::FromString(kDoc, "t.yaml");
  ASSERT_TRUE(r.ok());
  auto bad = r->Int("slots", std::nullopt, 10, 20);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "t.yaml:3: slots: 8 is out of range [10, 20]");
  auto items = r->MapList("items");
  ASSERT_TRUE(items.ok());
  auto id = (*items)[1].Int("id", std::nullopt, 0, 9);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().message(), "t.yaml:12: items[1].id: 'x' is not an integer");
  auto missing = r->String("absent");
  EXPECT_EQ(missing.status().message(), "t.yaml:2: absent: is required");
}

TEST(YamlReaderTest, UnknownFieldsAndSyntaxErrorsAreReported) {
  auto r = YamlReader::FromString("slots: 1\nslotz: 2\n", "c.yaml");
  ASSERT_TRUE(r.ok());
  auto st = r->CheckKnown({"slots"});
  EXPECT_EQ(st.message(), "c.yaml:2: slotz: unknown field");
  auto syntax = YamlReader::FromString("a: [1, 2\nb: 3\n", "s.yaml");
  ASSERT_FALSE(syntax.ok());
  EXPECT_NE(syntax.status().message().find("s.yaml:"), std::string::npos);
  EXPECT_FALSE(YamlReader::FromString("- 1\n- 2\n", "l.yaml").ok());
  EXPECT_FALSE(YamlReader::FromFile("/nonexistent/prewarm.yaml").ok());
}

TEST(YamlReaderTest, AChoiceOutsideItsListNamesTheFieldLineAndTheChoices) {
  auto r = YamlReader::FromString("zone: a.\nlog_level: verbose\n", "c.yaml");
  ASSERT_TRUE(r.ok());
  constexpr std::string_view kLevels[] = {"info", "debug"};
  EXPECT_EQ(r->Choice("log_level", "info", kLevels).status().message(),
            "c.yaml:2: log_level: 'verbose' is not one of info, debug");
  EXPECT_EQ(*r->Choice("absent", "info", kLevels), "info");
}

TEST(ParseBytesTest, UnitsAndJunk) {
  EXPECT_EQ(*ParseBytes("1024"), 1024u);
  EXPECT_EQ(*ParseBytes("2G"), 2ull << 30);
  EXPECT_EQ(*ParseBytes("5 MB"), 5000000u);
  EXPECT_FALSE(ParseBytes("12 parsecs").ok());
  EXPECT_FALSE(ParseBytes("MiB").ok());
  EXPECT_FALSE(ParseBytes("99999999999999999999G").ok());
}

}  // namespace
}  // namespace prewarm
