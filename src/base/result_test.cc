#include "base/result.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace coco {
namespace {

constexpr Code kAll[] = {
    Code::kCancelled,
    Code::kUnknown,
    Code::kInvalidArgument,
    Code::kDeadlineExceeded,
    Code::kNotFound,
    Code::kAlreadyExists,
    Code::kPermissionDenied,
    Code::kResourceExhausted,
    Code::kFailedPrecondition,
    Code::kAborted,
    Code::kOutOfRange,
    Code::kUnimplemented,
    Code::kInternal,
    Code::kUnavailable,
    Code::kDataLoss,
    Code::kUnauthenticated,
    Code::kIo,
    Code::kEof,
    Code::kTooLarge,
    Code::kDigestMismatch,
    Code::kCrypto,
    Code::kEvidence,
    Code::kPolicyDenied,
    Code::kPolicyInvalid,
    Code::kSignatureInvalid,
    Code::kKeyMissing,
    Code::kKeyMismatch,
    Code::kStorage,
    Code::kStorageFull,
    Code::kProtocol,
};

TEST(Code, EveryCodeHasOneNameThatReadsBackAndAGrpcParent) {
  std::set<std::string> names;
  for (Code c : kAll) {
    std::string name = CodeName(c);
    EXPECT_TRUE(names.insert(name).second) << name << " is used twice";
    auto back = CodeFromName(name);
    ASSERT_TRUE(back.has_value()) << name;
    EXPECT_EQ(*back, c) << name;
    int g = GrpcCode(c);
    EXPECT_GE(g, 1) << name;
    EXPECT_LE(g, 16) << name;
  }
  EXPECT_EQ(names.size(), std::size(kAll));
  EXPECT_FALSE(CodeFromName("PolicyDeny").has_value());  // a KBS variant is not a code
  EXPECT_FALSE(CodeFromName("").has_value());
}

TEST(Code, GrpcCodesAreTheirOwnParentsAndRefinementsMapToTheirs) {
  for (int g = 1; g <= 16; ++g) {
    EXPECT_EQ(GrpcCode(CodeFromGrpc(g)), g);
    EXPECT_EQ(static_cast<int>(CodeFromGrpc(g)), g);
  }
  EXPECT_EQ(CodeFromGrpc(0), Code::kUnknown);
  EXPECT_EQ(CodeFromGrpc(99), Code::kUnknown);
  EXPECT_EQ(CodeFromGrpc(-1), Code::kUnknown);
  EXPECT_EQ(GrpcCode(Code::kDigestMismatch), GrpcCode(Code::kDataLoss));
  EXPECT_EQ(GrpcCode(Code::kPolicyDenied), GrpcCode(Code::kPermissionDenied));
  EXPECT_EQ(GrpcCode(Code::kTooLarge), GrpcCode(Code::kResourceExhausted));
  EXPECT_EQ(GrpcCode(Code::kIo), GrpcCode(Code::kUnavailable));
}

TEST(Error, AnnotateKeepsCodeAndWireAndReadsAsAChain) {
  Error e{Code::kDigestMismatch, "digest mismatch (got sha256:cd)", "Wire"};
  Error outer = Annotate(Annotate(e, "layer sha256:ab"), "image pull");
  EXPECT_EQ(outer.code, Code::kDigestMismatch);
  EXPECT_EQ(outer.wire, "Wire");
  EXPECT_EQ(outer.message, "image pull: layer sha256:ab: digest mismatch (got sha256:cd)");
  EXPECT_EQ(outer.Describe(),
            "image pull: layer sha256:ab: digest mismatch (got sha256:cd) [DigestMismatch]");
}

}  // namespace
}  // namespace coco
