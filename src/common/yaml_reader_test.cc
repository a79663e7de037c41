#include "common/yaml_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "fmt/format.h"

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

TEST(YamlReaderTest, ADuplicateKeyIsAnErrorNamingBothLines) {
  auto top = YamlReader::FromString("log_level: info\nzone: a.\nlog_level: debug\n", "d.yaml");
  ASSERT_FALSE(top.ok());
  EXPECT_EQ(top.status().message(), "d.yaml:3: log_level: duplicate key (first given at line 1)");
  auto nested =
      YamlReader::FromString("regions:\n  - name: a\n    latitude: 1\n    latitude: 2\n", "n.yaml");
  ASSERT_FALSE(nested.ok());
  EXPECT_EQ(nested.status().message(),
            "n.yaml:4: regions[0].latitude: duplicate key (first given at line 3)");
  auto flow = YamlReader::FromString("origin: {port: 80, port: 81}\n", "f.yaml");
  ASSERT_FALSE(flow.ok());
  EXPECT_NE(flow.status().message().find("origin.port: duplicate key"), std::string::npos);
  // The same key in two different mappings is fine.
  EXPECT_TRUE(YamlReader::FromString("a: {port: 1}\nb: {port: 1}\n", "ok.yaml").ok());
}

TEST(YamlReaderTest, NotANumberAndInfinityAreNotNumbers) {
  auto r = YamlReader::FromString("u: .nan\nv: .inf\nw: -.Inf\nx: 0.5\n", "nan.yaml");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->Double("u", std::nullopt, 0, 1).status().message(),
            "nan.yaml:1: u: '.nan' is not a finite number");
  EXPECT_EQ(r->Double("v", std::nullopt, 0, 1e308).status().message(),
            "nan.yaml:2: v: '.inf' is not a finite number");
  EXPECT_FALSE(r->Double("w", std::nullopt, -1e308, 0).ok());
  EXPECT_DOUBLE_EQ(*r->Double("x", std::nullopt, 0, 1), 0.5);
}

TEST(YamlReaderTest, ADirectoryIsNotAConfigFile) {
  char dir[] = "/tmp/prewarm-yaml-dir.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  auto r = YamlReader::FromFile(dir);
  rmdir(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), fmt::format("config file '{}' is a directory; give the path of "
                                              "a YAML file",
                                              dir));
}

TEST(YamlReaderTest, AChoiceOutsideItsListNamesTheFieldLineAndTheChoices) {
  auto r = YamlReader::FromString("zone: a.\nlog_level: verbose\n", "c.yaml");
  ASSERT_TRUE(r.ok());
  constexpr std::string_view kLevels[] = {"info", "debug"};
  EXPECT_EQ(r->Choice("log_level", "info", kLevels).status().message(),
            "c.yaml:2: log_level: 'verbose' is not one of info, debug");
  EXPECT_EQ(*r->Choice("absent", "info", kLevels), "info");
}

TEST(YamlReaderTest, ChangedKeysListsWhatAReloadWouldChange) {
  auto a = YamlReader::FromString("log_level: info\nttl: {short_s: 5}\nzone: a.\n", "a");
  auto b = YamlReader::FromString("log_level: debug\nttl: {short_s: 6}\nzone: a.\nnew: 1\n", "b");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->ChangedKeys(*b), (std::vector<std::string>{"log_level", "new", "ttl"}));
  EXPECT_TRUE(a->ChangedKeys(*a).empty());
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
