#include "jose/jcs.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <limits>

#include "base/bytes.h"
#include "crypto/crypto.h"

namespace coco::jose {
namespace {

using Json = nlohmann::json;

std::string Canon(const Json& j) {
  auto r = Canonicalize(j);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : "";
}

TEST(Jcs, Rfc8785Section322Example) {
  Json input = Json::parse(R"({
    "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
    "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
    "literals": [null, true, false]
  })");
  EXPECT_EQ(Canon(input),
            "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
            "\"string\":\"\xE2\x82\xAC$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
}

TEST(Jcs, Rfc8785Section323SortsByUtf16CodeUnits) {
  Json input = Json::parse(R"({
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\ud83d\ude00": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis"
  })");
  // U+1F600 (surrogates D83D DE00) sorts before U+FB33, although its UTF-8 bytes sort after.
  EXPECT_EQ(Canon(input),
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xC2\x80\":\"Control\","
            "\"\xC3\xB6\":\"Latin Small Letter O With Diaeresis\",\"\xE2\x82\xAC\":\"Euro Sign\","
            "\"\xF0\x9F\x98\x80\":\"Emoji: Grinning Face\","
            "\"\xEF\xAC\xB3\":\"Hebrew Letter Dalet With Dagesh\"}");
}

TEST(Jcs, Rfc8785AppendixBNumbers) {
  struct Case {
    uint64_t bits;
    const char* expected;
  };
  const Case cases[] = {
      {0x0000000000000000, "0"},
      {0x8000000000000000, "0"},
      {0x0000000000000001, "5e-324"},
      {0x8000000000000001, "-5e-324"},
      {0x7fefffffffffffff, "1.7976931348623157e+308"},
      {0xffefffffffffffff, "-1.7976931348623157e+308"},
      {0x4340000000000000, "9007199254740992"},
      {0xc340000000000000, "-9007199254740992"},
      {0x4430000000000000, "295147905179352830000"},
      {0x44b52d02c7e14af5, "9.999999999999997e+22"},
      {0x44b52d02c7e14af6, "1e+23"},
      {0x44b52d02c7e14af7, "1.0000000000000001e+23"},
      {0x444b1ae4d6e2ef4e, "999999999999999700000"},
      {0x444b1ae4d6e2ef4f, "999999999999999900000"},
      {0x444b1ae4d6e2ef50, "1e+21"},
      {0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
      {0x3eb0c6f7a0b5ed8d, "0.000001"},
      {0x41b3de4355555553, "333333333.3333332"},
      {0x41b3de4355555554, "333333333.33333325"},
      {0x41b3de4355555555, "333333333.3333333"},
      {0x41b3de4355555556, "333333333.3333334"},
      {0x41b3de4355555557, "333333333.33333343"},
      {0xbecbf647612f3696, "-0.0000033333333333333333"},
      {0x43143ff3c1cb0959, "1424953923781206.2"},
  };
  for (const Case& c : cases) {
    double d = std::bit_cast<double>(c.bits);
    EXPECT_EQ(FormatEcmaScriptNumber(d), c.expected) << std::hex << c.bits;
    EXPECT_EQ(Canon(Json(d)), c.expected) << std::hex << c.bits;
  }
}

TEST(Jcs, MoreNumberForms) {
  EXPECT_EQ(FormatEcmaScriptNumber(1e21), "1e+21");
  EXPECT_EQ(FormatEcmaScriptNumber(1e20), "100000000000000000000");
  EXPECT_EQ(FormatEcmaScriptNumber(1e-7), "1e-7");
  EXPECT_EQ(FormatEcmaScriptNumber(5e-7), "5e-7");
  EXPECT_EQ(FormatEcmaScriptNumber(1.5e-7), "1.5e-7");
  EXPECT_EQ(FormatEcmaScriptNumber(0.000001), "0.000001");
  EXPECT_EQ(FormatEcmaScriptNumber(-0.0), "0");
  EXPECT_EQ(FormatEcmaScriptNumber(123.456), "123.456");
  EXPECT_EQ(FormatEcmaScriptNumber(-1.0), "-1");
  EXPECT_EQ(FormatEcmaScriptNumber(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(FormatEcmaScriptNumber(-std::numeric_limits<double>::infinity()), "-Infinity");
  // Integers held as int64/uint64 go through IEEE double first.
  EXPECT_EQ(Canon(Json(int64_t{-42})), "-42");
  EXPECT_EQ(Canon(Json(uint64_t{9007199254740993u})), "9007199254740992");
  EXPECT_EQ(Canon(Json(std::numeric_limits<int64_t>::min())), "-9223372036854776000");
  EXPECT_EQ(Canon(Json(std::numeric_limits<uint64_t>::max())), "18446744073709552000");
}

TEST(Jcs, NonFiniteNumbersRefused) {
  Json j = {{"a", {1, std::numeric_limits<double>::quiet_NaN()}}};
  auto r = Canonicalize(j);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("a[1]"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("NaN"), std::string::npos) << r.error().message;
  EXPECT_FALSE(Canonicalize(Json(std::numeric_limits<double>::infinity())).ok());
}

TEST(Jcs, StringEscapes) {
  std::string s = "\"\\/\b\f\n\r\t";
  s.push_back('\0');
  s += "\x01\x1f\x7f\xE2\x80\xA8<>&'";
  EXPECT_EQ(Canon(Json(s)),
            "\"\\\"\\\\/\\b\\f\\n\\r\\t\\u0000\\u0001\\u001f\x7f\xE2\x80\xA8<>&'\"");
}

TEST(Jcs, InvalidUtf8Refused) {
  for (std::string bad : {std::string("\xC3"), std::string("\xC0\x80"), std::string("\xED\xA0\x80"),
                          std::string("\xF4\x90\x80\x80"), std::string("a\xFF")}) {
    auto r = Canonicalize(Json(bad));
    ASSERT_FALSE(r.ok()) << HexEncode(ToBytes(bad));
    EXPECT_NE(r.error().message.find("UTF-8"), std::string::npos);
    Json obj = Json::object();
    obj[bad] = 1;
    EXPECT_FALSE(Canonicalize(obj).ok());
  }
}

TEST(Jcs, NestedAndEmpty) {
  EXPECT_EQ(Canon(Json::object()), "{}");
  EXPECT_EQ(Canon(Json::array()), "[]");
  EXPECT_EQ(Canon(Json::parse(R"({"b":[{"z":1,"y":{}}],"a":{"d":[],"c":null}})")),
            R"({"a":{"c":null,"d":[]},"b":[{"y":{},"z":1}]})");
}

TEST(Jcs, TrusteeRuntimeDataVector) {
  // Upstream trustee test: the canonical form of this object and its SHA-384.
  Json input = Json::parse(R"({"a":"test","b":1,"c":{"d":"e"}})");
  std::string canonical = Canon(input);
  EXPECT_EQ(canonical, R"({"a":"test","b":1,"c":{"d":"e"}})");
  // printf '%s' '{"a":"test","b":1,"c":{"d":"e"}}' | sha384sum
  EXPECT_EQ(HexEncode(crypto::Sha384(canonical)),
            "e71ce8e70d814ba6639c3612ebee0ff1f76f650f8dbb5e47157e0f3f525cd22c4597480a186427c813ca94"
            "1da78870c3");
}

}  // namespace
}  // namespace coco::jose
