#include "signature/lookaside.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "signature/test_util.h"

namespace coco::signature {
namespace {

using sigtest::Slurp;
using sigtest::Spit;
using sigtest::TempDir;
using sigtest::TestData;

constexpr char kSignedDigest[] =
    "sha256:febcf61cd6e1ac9628f6ac14fa40836d16f3c6ddef3b303ff0321606e55ddd0b";

ImageReference Ref(const std::string& s) { return *ImageReference::Parse(s); }

TEST(Registries, UpstreamConfigsMerge) {
  auto c1 = RegistriesConfig::LoadDir(TestData("sigstore_config/test_case_1"));
  ASSERT_TRUE(c1.ok()) << c1.error().message;
  ASSERT_TRUE(c1->default_docker());
  EXPECT_EQ(c1->default_docker()->lookaside, "file:///var/lib/containers/sigstore");
  EXPECT_EQ(c1->docker().size(), 1u);

  auto c3 = RegistriesConfig::LoadDir(TestData("sigstore_config/test_case_3"));
  ASSERT_TRUE(c3.ok()) << c3.error().message;
  EXPECT_EQ(c3->default_docker()->lookaside, "file:///default/sigstore");
  EXPECT_EQ(c3->docker().size(), 2u);
  EXPECT_EQ(c3->BaseUrlFor(Ref("example1.com/a/b:1"), false),
            "file:///var/lib/containers/sigstore");
  EXPECT_EQ(c3->BaseUrlFor(Ref("quay.io/a/b:1"), false), "file:///default/sigstore");
  auto c2 = RegistriesConfig::LoadDir(TestData("sigstore_config/test_case_2"));
  ASSERT_TRUE(c2.ok()) << c2.error().message;
  EXPECT_EQ(c2->docker().size(), 1u);
}

TEST(Registries, ConflictsAndBadYamlRefused) {
  RegistriesConfig c;
  ASSERT_TRUE(
      RegistriesConfig::ParseYaml("default-docker: {lookaside: file:///a}", "a.yaml", c).ok());
  Status dup = RegistriesConfig::ParseYaml("default-docker: {lookaside: file:///b}", "b.yaml", c);
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().message.find("a.yaml"), std::string::npos);
  ASSERT_TRUE(
      RegistriesConfig::ParseYaml("docker: {quay.io: {lookaside: file:///q}}", "c", c).ok());
  EXPECT_FALSE(
      RegistriesConfig::ParseYaml("docker: {quay.io: {lookaside: file:///r}}", "d", c).ok());
  EXPECT_FALSE(RegistriesConfig::ParseYaml("docker: [unterminated", "e", c).ok());
  EXPECT_FALSE(RegistriesConfig::ParseYaml("docker: {x: {lookaside: [1]}}", "f", c).ok());
  auto missing = RegistriesConfig::LoadDir("/nonexistent/registries.d");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->default_docker());
}

TEST(Registries, MostSpecificScopeAndStaging) {
  RegistriesConfig c;
  ASSERT_TRUE(RegistriesConfig::ParseYaml(R"(
default-docker:
  lookaside: https://sigs.example.com/default
docker:
  quay.io:
    sigstore: file:///quay
  quay.io/team:
    lookaside: file:///team
    lookaside-staging: file:///team-staging
  quay.io/team/app:v1:
    lookaside: file:///exact
  "*.example.org":
    lookaside: file:///wild
)",
                                          "x.yaml", c)
                  .ok());
  EXPECT_EQ(c.BaseUrlFor(Ref("quay.io/team/app:v1"), false), "file:///exact");
  EXPECT_EQ(c.BaseUrlFor(Ref("quay.io/team/app:v2"), false), "file:///team");
  EXPECT_EQ(c.BaseUrlFor(Ref("quay.io/team/app:v2"), true), "file:///team-staging");
  EXPECT_EQ(c.BaseUrlFor(Ref("quay.io/other/app:v2"), false), "file:///quay");
  EXPECT_EQ(c.BaseUrlFor(Ref("r.example.org/x:1"), false), "file:///wild");
  EXPECT_EQ(c.BaseUrlFor(Ref("busybox"), false), "https://sigs.example.com/default");
}

TEST(Lookaside, UrlLayout) {
  auto u = SignatureUrl("file:///sigs/", Ref("docker.io/library/busybox:1"), kSignedDigest, 2);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(*u,
            "file:///sigs/library/busybox@sha256="
            "febcf61cd6e1ac9628f6ac14fa40836d16f3c6ddef3b303ff0321606e55ddd0b/signature-2");
  EXPECT_FALSE(SignatureUrl("file:///sigs", Ref("busybox"), "sha256:zz", 1).ok());
}

TEST(Lookaside, ReadsUpstreamStore) {
  std::string base = "file://" + TestData("simple-signing-scheme/signatures");
  auto image = Ref("quay.io/kata-containers/confidential-containers:signed");
  auto sigs = ReadLookasideSignatures(base, image, kSignedDigest);
  ASSERT_TRUE(sigs.ok()) << sigs.error().message;
  ASSERT_EQ(sigs->size(), 1u);
  EXPECT_EQ((*sigs)[0].size(), 863u);
  auto none = ReadLookasideSignatures(
      base, image, "sha256:0000000000000000000000000000000000000000000000000000000000000000");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  // The upstream registries.d file points this repository at its store.
  RegistriesConfig c;
  ASSERT_TRUE(RegistriesConfig::ParseYaml(
                  Slurp(TestData("simple-signing-scheme/sigstore_config.yaml")), "u", c)
                  .ok());
  EXPECT_EQ(c.BaseUrlFor(image, false), "file:///etc/containers/quay_verification/signatures");
}

TEST(Lookaside, HttpGoesThroughFetcher) {
  std::vector<std::string> asked;
  UrlFetcher fetch = [&](const std::string& url) -> Result<std::optional<std::string>> {
    asked.push_back(url);
    if (url.ends_with("/signature-1")) return std::optional<std::string>("sig1");
    return std::optional<std::string>();
  };
  auto image = Ref("quay.io/ns/repo:1");
  auto sigs = ReadLookasideSignatures("https://sigs.example.com/base", image, kSignedDigest, fetch);
  ASSERT_TRUE(sigs.ok()) << sigs.error().message;
  EXPECT_EQ(*sigs, std::vector<std::string>{"sig1"});
  ASSERT_EQ(asked.size(), 2u);
  EXPECT_EQ(asked[0],
            "https://sigs.example.com/base/ns/repo@sha256="
            "febcf61cd6e1ac9628f6ac14fa40836d16f3c6ddef3b303ff0321606e55ddd0b/signature-1");
  EXPECT_FALSE(ReadLookasideSignatures("https://x/y", image, kSignedDigest).ok());
  EXPECT_FALSE(ReadLookasideSignatures("ftp://x/y", image, kSignedDigest, fetch).ok());
  UrlFetcher failing = [](const std::string&) -> Result<std::optional<std::string>> {
    return MakeError(Code::kIo, "connection refused");
  };
  EXPECT_FALSE(ReadLookasideSignatures("https://x/y", image, kSignedDigest, failing).ok());
}

TEST(Lookaside, WriteAppendAndTrim) {
  TempDir dir;
  std::string base = "file://" + dir.path();
  auto image = Ref("localhost:5000/a/b:1");
  auto u1 = AppendLookasideSignature(base, image, kSignedDigest, "one");
  ASSERT_TRUE(u1.ok()) << u1.error().message;
  auto u2 = AppendLookasideSignature(base, image, kSignedDigest, "two");
  ASSERT_TRUE(u2.ok());
  EXPECT_TRUE(u2->ends_with("/signature-2"));
  std::string d =
      dir / "a/b@sha256=febcf61cd6e1ac9628f6ac14fa40836d16f3c6ddef3b303ff0321606e55ddd0b";
  EXPECT_EQ(Slurp(d + "/signature-1"), "one");
  EXPECT_EQ(Slurp(d + "/signature-2"), "two");
  ASSERT_TRUE(WriteLookasideSignatures(base, image, kSignedDigest, {"only"}).ok());
  auto sigs = ReadLookasideSignatures(base, image, kSignedDigest);
  ASSERT_TRUE(sigs.ok());
  EXPECT_EQ(*sigs, std::vector<std::string>{"only"});
  EXPECT_FALSE(std::filesystem::exists(d + "/signature-2"));
  EXPECT_FALSE(AppendLookasideSignature("https://x", image, kSignedDigest, "s").ok());
}

}  // namespace
}  // namespace coco::signature
