#include "ocicrypt/keyprovider.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace coco::ocicrypt {
namespace {

const std::string kPriv = R"({"symkey":"c2VjcmV0","digest":"sha256:ab","cipheroptions":{}})";

TEST(KeyProvider, ParsesWrapRequestAsGoOcicryptSendsIt) {
  std::string req = R"({"op":"keywrap","keywrapparams":{"ec":{"Parameters":{"coco":[")" +
                    Base64Encode(ToBytes("kbs:///default/key/k1")) +
                    R"("]},"DecryptConfig":{"Parameters":null}},"optsdata":")" +
                    Base64Encode(ToBytes(kPriv)) + R"("}})";
  auto r = ParseKeyProviderRequest(req);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->op, KeyProviderRequest::Op::kWrap);
  EXPECT_EQ(r->parameters.at("coco"), std::vector<std::string>{"kbs:///default/key/k1"});
  EXPECT_EQ(ToString(r->optsdata.bytes()), kPriv);
  auto answer = nlohmann::json::parse(KeyWrapAnswer(ToBytes("{}")));
  EXPECT_EQ(answer["keywrapresults"]["annotation"], nlohmann::json::array({123, 125}));
}

TEST(KeyProvider, ParsesRustFormsAndAnswersWithArrays) {
  // ocicrypt-rs: optsdata as raw JSON text, annotation as an integer array.
  std::string wrap = R"({"op":"keywrap","keywrapparams":{"ec":{"Parameters":{"coco":[]},)"
                     R"("DecryptConfig":{"Parameters":{}}},"optsdata":)" +
                     nlohmann::json(kPriv).dump() + "}}";
  auto w = ParseKeyProviderRequest(wrap);
  ASSERT_TRUE(w.ok()) << w.error().message;
  EXPECT_EQ(ToString(w->optsdata.bytes()), kPriv);

  std::string unwrap =
      R"({"op":"keyunwrap","keyunwrapparams":{"dc":{"Parameters":{"attestation-agent":[[69,110]]}},"annotation":[123,125]}})";
  auto u = ParseKeyProviderRequest(unwrap);
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->op, KeyProviderRequest::Op::kUnwrap);
  EXPECT_EQ(ToString(u->annotation), "{}");
  EXPECT_EQ(u->parameters.at("attestation-agent")[0], "En");
  auto answer = nlohmann::json::parse(KeyUnwrapAnswer(SecretBytes(ToBytes("ab"))));
  EXPECT_EQ(answer["keyunwrapresults"]["optsdata"], nlohmann::json::array({97, 98}));
}

TEST(KeyProvider, ParsesUnwrapRequestAsGoOcicryptSendsIt) {
  std::string req =
      R"({"op":"keyunwrap","keyunwrapparams":{"dc":{"Parameters":{"coco":["RW5hYmxlZA=="]}},"annotation":")" +
      Base64Encode(ToBytes("{\"kid\":\"kbs:///a/b/c\"}")) + R"("}})";
  auto r = ParseKeyProviderRequest(req);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->parameters.at("coco")[0], "Enabled");
  EXPECT_EQ(ToString(r->annotation), "{\"kid\":\"kbs:///a/b/c\"}");
}

TEST(KeyProvider, RefusesMalformedRequests) {
  for (std::string bad : {"", "[]", R"({"op":"wrap"})", R"({"op":"keywrap"})",
                          R"({"op":"keywrap","keywrapparams":{}})",
                          R"({"op":"keyunwrap","keyunwrapparams":{"annotation":[256]}})",
                          R"({"op":"keyunwrap","keyunwrapparams":{"annotation":"%%%"}})",
                          R"({"op":"keyunwrap","keyunwrapparams":{"annotation":7}})"}) {
    EXPECT_FALSE(ParseKeyProviderRequest(bad).ok()) << bad;
  }
}

TEST(KeyProvider, ProviderParamsBareIdOrPairs) {
  auto a = ParseProviderParams("kbs:///default/key/k1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->keyid, "kbs:///default/key/k1");
  auto b = ParseProviderParams(
      "keyid=kbs:///default/key/k1::keypath=/tmp/kek::algorithm=A256CTR::kbs=http://127.0.0.1:1");
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(b->keypath, "/tmp/kek");
  EXPECT_EQ(b->algorithm, "A256CTR");
  EXPECT_EQ(b->kbs, "http://127.0.0.1:1");
  auto c = ParseProviderParams("kbs:///default/key/k2::keypath=/tmp/k");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->keyid, "kbs:///default/key/k2");
  EXPECT_EQ(c->keypath, "/tmp/k");
  EXPECT_FALSE(ParseProviderParams("keyid=x::algorithm=A128GCM").ok());
  EXPECT_FALSE(ParseProviderParams("sample=true").ok());
  EXPECT_FALSE(ParseProviderParams("nonsense").ok());
}

}  // namespace
}  // namespace coco::ocicrypt
