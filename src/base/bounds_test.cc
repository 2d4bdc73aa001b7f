// The bounded decoders (json.h, toml_bounds.h) and the text log's escaping.
#include <gtest/gtest.h>

#include <string>

#include "base/json.h"
#include "base/log.h"
#include "base/toml_bounds.h"

namespace coco {
namespace {

std::string Nested(int depth, char open = '[', char close = ']') {
  return std::string(depth, open) + std::string(depth, close);
}

TEST(BoundedJson, DepthIsCheckedBeforeParsing) {
  EXPECT_EQ(JsonTextDepth("1", 64), 0);
  EXPECT_EQ(JsonTextDepth(R"({"a":[{"b":[]}]})", 64), 4);
  // Brackets inside strings, escaped quotes included, do not count.
  EXPECT_EQ(JsonTextDepth(R"({"a":"[[[[\"[[[[","b":"}}}}"})", 64), 1);
  EXPECT_TRUE(ParseJson(Nested(64), "doc").ok());
  auto deep = ParseJson(Nested(65), "doc");
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.error().message.find("nests deeper than 64"), std::string::npos);
  // What crashed the broker: 150,000 levels. The scan stops at the limit, nothing is built.
  std::string hostile = R"({"primary_evidence":)" + Nested(150000, '{', '}') + "}";
  EXPECT_FALSE(ParseJson(hostile, "evidence").ok());
  EXPECT_TRUE(ParseJsonOrDiscarded(hostile).is_discarded());
  EXPECT_TRUE(ParseJsonOrDiscarded(std::string(500000, '[')).is_discarded());
}

TEST(BoundedJson, SizeAndSyntax) {
  JsonLimits small{10, 64};
  EXPECT_TRUE(ParseJson("[1,2,3]", "doc", small).ok());
  auto big = ParseJson(R"(["0123456789"])", "body", small);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message.find("over the limit of 10"), std::string::npos);
  auto bad = ParseJson("{\"a\":", "request");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("request is not valid JSON"), std::string::npos);
  EXPECT_FALSE(ParseJsonObject("[]", "request").ok());
  EXPECT_TRUE(ParseJsonObject("{}", "request").ok());
  EXPECT_TRUE(ParseJsonOrDiscarded("{\"a\":").is_discarded());
  EXPECT_EQ(ParseJsonOrDiscarded(std::vector<uint8_t>{'7'}), nlohmann::json(7));
}

TEST(TomlBounds, DottedKeysAndNesting) {
  EXPECT_TRUE(CheckTomlBounds("a.b.c = 1.5\nv = \"0.1.0.2.3.4\"\n[x.y]\nz = [1.0, 2.0]\n", "t").ok());
  std::string key = "k";
  for (int i = 0; i < 20000; ++i) key += ".k";  // the 40 KB key that overflowed toml++
  auto s = CheckTomlBounds(key + " = 1\n", "init-data");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("init-data line 1: a dotted key has more than 32 parts"),
            std::string::npos);
  EXPECT_FALSE(CheckTomlBounds("[" + key + "]\n", "t").ok());
  std::string ok_key = "k";
  for (int i = 0; i < 31; ++i) ok_key += ".k";  // 32 parts
  EXPECT_TRUE(CheckTomlBounds(ok_key + " = 1\n", "t").ok());
  EXPECT_FALSE(CheckTomlBounds("a = " + Nested(33) + "\n", "t").ok());
  EXPECT_FALSE(CheckTomlBounds("a = " + std::string(40, '{'), "t").ok());
  EXPECT_TRUE(CheckTomlBounds("a = " + Nested(32) + "\n", "t").ok());
  // Dots and brackets in strings (all four kinds) and comments are content, not structure.
  std::string dots(100, '.');
  std::string brackets(100, '[');
  for (const std::string& doc :
       {"a = \"" + dots + brackets + "\"\n", "a = '" + dots + "'\n",
        "a = \"\"\"\n" + dots + "\n" + brackets + "\n\"\"\"\n", "a = '''" + brackets + "'''\n",
        "# " + dots + brackets + "\na = 1\n", "a = \"esc \\\" " + dots + "\"\n"}) {
    EXPECT_TRUE(CheckTomlBounds(doc, "t").ok()) << doc;
  }
  // The line is named.
  auto late = CheckTomlBounds("a = 1\nb = 2\n" + key + " = 3\n", "t");
  ASSERT_FALSE(late.ok());
  EXPECT_NE(late.error().message.find("line 3"), std::string::npos);
  EXPECT_FALSE(CheckTomlBounds(std::string(2 << 20, ' '), "t").ok());
}

TEST(TextLog, EveryValueStaysOnOneLine) {
  EXPECT_EQ(log::EscapeTextValue("/kbs/v0/auth"), "/kbs/v0/auth");
  EXPECT_EQ(log::EscapeTextValue(""), "\"\"");
  EXPECT_EQ(log::EscapeTextValue("two words"), "\"two words\"");
  // The log-injection finding: a %0a-decoded path must not start a forged line.
  std::string forged = "/x\n2026-01-01T00:00:00.000Z info admin request accepted role=admin";
  std::string escaped = log::EscapeTextValue(forged);
  EXPECT_EQ(escaped.find('\n'), std::string::npos);
  EXPECT_NE(escaped.find("\\n2026"), std::string::npos);
  EXPECT_EQ(log::EscapeTextValue("a\"b\\c\r\t\x01\x7f"), "\"a\\\"b\\\\c\\r\\t\\x01\\x7f\"");
  EXPECT_EQ(log::EscapeTextValue("k=v"), "\"k=v\"");  // no forged key=value pairs either
}

}  // namespace
}  // namespace coco
