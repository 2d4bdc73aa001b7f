#include "kbs/errors.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace coco::kbs {
namespace {

constexpr Variant kAll[] = {
    Variant::kAdminAuthAccess,    Variant::kAttestationError,
    Variant::kHttpFailed,         Variant::kInvalidRequestPath,
    Variant::kJweError,           Variant::kParsePolicyError,
    Variant::kPayloadTooLarge,    Variant::kPluginInternalError,
    Variant::kPluginNotFound,     Variant::kPolicyDeny,
    Variant::kPolicyEngineError,  Variant::kRvpsError,
    Variant::kSerdeError,         Variant::kTokenNotFound,
    Variant::kTokenVerifierError,
};

TEST(KbsErrors, EveryVariantRoundTripsThroughTheWireBody) {
  for (Variant v : kAll) {
    std::string body = ErrorBody(v, "why \"quoted\"");
    auto j = nlohmann::json::parse(body);
    EXPECT_EQ(j["type"], std::string(kErrorTypePrefix) + VariantName(v));
    KbsError back = ParseErrorBody(body);
    EXPECT_EQ(back.variant, VariantName(v));
    EXPECT_EQ(back.detail, "why \"quoted\"");
    ASSERT_TRUE(VariantFromName(back.variant).has_value());
    EXPECT_EQ(*VariantFromName(back.variant), v);
  }
}

TEST(KbsErrors, StatusesFollowUpstream) {
  EXPECT_EQ(StatusFor(Variant::kInvalidRequestPath), 404);
  EXPECT_EQ(StatusFor(Variant::kPluginNotFound), 404);
  EXPECT_EQ(StatusFor(Variant::kPayloadTooLarge), 413);
  // Upstream answers 401 for a policy denial and a missing resource alike.
  EXPECT_EQ(StatusFor(Variant::kPolicyDeny), 401);
  EXPECT_EQ(StatusFor(Variant::kPluginInternalError), 401);
  EXPECT_EQ(std::string(VariantName(Variant::kHttpFailed)), "HTTPFailed");
}

TEST(KbsErrors, AReceivedErrorKeepsTheVariantAndGetsItsCode) {
  Error e = ReceivedError(ParseErrorBody(ErrorBody(Variant::kPolicyDeny, "no")), 401,
                          "resource default/key/1");
  EXPECT_EQ(e.code, Code::kPolicyDenied);
  EXPECT_EQ(e.wire, "PolicyDeny");
  EXPECT_EQ(e.message, "resource default/key/1: PolicyDeny: no (HTTP 401)");
  Error odd = ReceivedError(ParseErrorBody("<html>bad gateway</html>"), 502, "");
  EXPECT_EQ(odd.code, Code::kInternal);
  EXPECT_EQ(odd.message, "broker error: <html>bad gateway</html> (HTTP 502)");
  Error unknown = ReceivedError({"SomeFutureVariant", "x"}, 401, "");
  EXPECT_EQ(unknown.code, Code::kUnknown);
  EXPECT_EQ(unknown.wire, "SomeFutureVariant");
  EXPECT_EQ(WireError(Variant::kTokenNotFound, "m").code, Code::kUnauthenticated);
  EXPECT_EQ(WireError(Variant::kTokenNotFound, "m").wire, "TokenNotFound");
}

}  // namespace
}  // namespace coco::kbs
