#include "signature/policy.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "signature/image_ref.h"
#include "signature/test_util.h"

namespace coco::signature {
namespace {

using sigtest::Slurp;
using sigtest::TestData;

ImageReference Ref(const std::string& s) {
  auto r = ImageReference::Parse(s);
  EXPECT_TRUE(r.ok()) << s << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : ImageReference();
}

TEST(ImageReference, DockerNormalisation) {
  struct Case {
    const char* in;
    const char* host;
    const char* path;
    const char* out;
  } cases[] = {
      {"busybox", "docker.io", "library/busybox", "docker.io/library/busybox"},
      {"busybox:1.36", "docker.io", "library/busybox", "docker.io/library/busybox:1.36"},
      {"foo/bar", "docker.io", "foo/bar", "docker.io/foo/bar"},
      {"index.docker.io/foo", "docker.io", "library/foo", "docker.io/library/foo"},
      {"localhost/foo", "localhost", "foo", "localhost/foo"},
      {"localhost:5000/a/b:t", "localhost:5000", "a/b", "localhost:5000/a/b:t"},
      {"quay.io/kata-containers/confidential-containers:signed", "quay.io",
       "kata-containers/confidential-containers",
       "quay.io/kata-containers/confidential-containers:signed"},
      {"example.com:443/ns/repo:v1@sha256:"
       "69704ef328d05a9f806b6b8502915e6a0a4faa4d72018dc42343f511490daf8a",
       "example.com:443", "ns/repo",
       "example.com:443/ns/repo:v1@sha256:"
       "69704ef328d05a9f806b6b8502915e6a0a4faa4d72018dc42343f511490daf8a"},
  };
  for (const Case& c : cases) {
    ImageReference r = Ref(c.in);
    EXPECT_EQ(r.host(), c.host) << c.in;
    EXPECT_EQ(r.path(), c.path) << c.in;
    EXPECT_EQ(r.String(), c.out) << c.in;
  }
  EXPECT_EQ(Ref("busybox").TagNameOnly().String(), "docker.io/library/busybox:latest");
}

TEST(ImageReference, RefusesMalformed) {
  for (const char* bad : {"", "Foo/Bar", "example.com/", "repo:", "repo@sha256:abc",
                          "repo@md5:0123", "a//b", "-a/b", "repo:-tag", "example.com:x/a"}) {
    EXPECT_FALSE(ImageReference::Parse(bad).ok()) << bad;
  }
}

TEST(ImageReference, PolicyScopesInOrder) {
  std::vector<std::string> want = {
      "registry.access.redhat.com:5000/ns/sub/repo:tag",
      "registry.access.redhat.com:5000/ns/sub/repo",
      "registry.access.redhat.com:5000/ns/sub",
      "registry.access.redhat.com:5000/ns",
      "registry.access.redhat.com:5000",
      "*.access.redhat.com",
      "*.redhat.com",
      "*.com",
  };
  EXPECT_EQ(Ref("registry.access.redhat.com:5000/ns/sub/repo:tag").PolicyScopes(), want);
  std::vector<std::string> local = {"localhost/a:b", "localhost/a", "localhost"};
  EXPECT_EQ(Ref("localhost/a:b").PolicyScopes(), local);
}

TEST(Policy, ParsesUpstreamPolicy) {
  auto p = Policy::Load(TestData("policy.json"));
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_EQ(p->default_requirements().size(), 1u);
  EXPECT_EQ(p->default_requirements()[0].type, Requirement::Type::kReject);
  ASSERT_EQ(p->transports().count("dir"), 1u);
  const auto& docker = p->transports().at("docker");
  EXPECT_EQ(docker.size(), 6u);
  const auto& hardened = docker.at("example.com/hardened");
  ASSERT_EQ(hardened.size(), 2u);
  EXPECT_EQ(hardened[0].key_paths, std::vector<std::string>{"/keys/public-gpg-keyring"});
  EXPECT_EQ(hardened[1].key_data, std::optional<std::string>("nonsense"));
  EXPECT_EQ(hardened[0].signed_identity.type, SignedIdentity::Type::kMatchRepoDigestOrExact);
  EXPECT_EQ(docker.at("registry.access.redhat.com")[1].signed_identity.type,
            SignedIdentity::Type::kMatchExact);
  const auto& exact = docker.at("*.access.redhat.com")[1].signed_identity;
  EXPECT_EQ(exact.type, SignedIdentity::Type::kExactReference);
  EXPECT_EQ(exact.docker_reference, "docker.io/example/busybox:latest");
  const auto& repo = docker.at("*.redhat.com")[1].signed_identity;
  EXPECT_EQ(repo.type, SignedIdentity::Type::kExactRepository);
  EXPECT_EQ(repo.docker_repository, "docker.io/example/busybox");
  const auto& remap = docker.at("*.com")[1].signed_identity;
  EXPECT_EQ(remap.type, SignedIdentity::Type::kRemapIdentity);
  EXPECT_EQ(remap.prefix, "example");
  EXPECT_EQ(remap.signed_prefix, "example");

  auto ss = Policy::Load(TestData("simple-signing-scheme/security_policy.json"));
  ASSERT_TRUE(ss.ok()) << ss.error().message;
  EXPECT_EQ(ss->transports().at("docker").size(), 3u);
}

TEST(Policy, ScopeResolutionTable) {
  auto p = Policy::Load(TestData("policy.json"));
  ASSERT_TRUE(p.ok());
  struct Case {
    const char* image;
    const char* scope;  // nullptr = policy default
  } cases[] = {
      {"example.com/playground:latest", "example.com/playground"},
      {"example.com/playground@sha256:"
       "69704ef328d05a9f806b6b8502915e6a0a4faa4d72018dc42343f511490daf8a",
       "example.com/playground"},
      {"example.com/hardened:v1", "example.com/hardened"},
      {"example.com/hardened/sub:v1", "example.com/hardened"},  // parent namespace
      {"example.com/hardenedx:v1", "*.com"},
      {"registry.access.redhat.com/ubi8:latest", "registry.access.redhat.com"},
      {"registry.access.redhat.com:5000/ubi8:latest", "*.access.redhat.com"},
      {"foo.access.redhat.com/ubi8:latest", "*.access.redhat.com"},
      {"access.redhat.com/ubi8:latest", "*.redhat.com"},
      {"quay.io.redhat.com/x:latest", "*.redhat.com"},
      {"example.com/other:latest", "*.com"},
      {"docker.io/library/busybox:latest", nullptr},
      {"quay.io/x/y:latest", nullptr},
      {"localhost:5000/x:latest", nullptr},
  };
  for (const Case& c : cases) {
    PolicyMatch m = p->ForDocker(Ref(c.image));
    if (c.scope == nullptr) {
      EXPECT_TRUE(m.is_default) << c.image << " matched " << m.Describe();
      EXPECT_EQ(m.Describe(), "policy default");
    } else {
      EXPECT_FALSE(m.is_default) << c.image;
      EXPECT_EQ(m.scope, c.scope) << c.image;
    }
  }
  // Exact references beat repositories; "" beats the default; other transports are separate.
  auto q = Policy::Parse(R"({"default":[{"type":"reject"}],"transports":{"docker":{
      "docker.io/library/busybox:1":[{"type":"insecureAcceptAnything"}],
      "docker.io/library/busybox":[{"type":"reject"}],
      "docker.io/library":[{"type":"reject"}],
      "docker.io":[{"type":"reject"}],
      "":[{"type":"insecureAcceptAnything"}]},
      "oci":{"":[{"type":"reject"}]},
      "docker-daemon":{"":[{"type":"insecureAcceptAnything"}]}}})");
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->ForDocker(Ref("busybox:1")).scope, "docker.io/library/busybox:1");
  EXPECT_EQ(q->ForDocker(Ref("busybox:2")).scope, "docker.io/library/busybox");
  EXPECT_EQ(q->ForDocker(Ref("alpine:2")).scope, "docker.io/library");
  EXPECT_EQ(q->ForDocker(Ref("foo/bar:2")).scope, "docker.io");
  PolicyMatch any = q->ForDocker(Ref("quay.io/a/b:2"));
  EXPECT_FALSE(any.is_default);
  EXPECT_EQ(any.scope, "");
  EXPECT_EQ(any.Describe(), "transport docker scope \"\"");
  EXPECT_EQ((*q->ForTransport("oci", {"/x"}).requirements)[0].type, Requirement::Type::kReject);
  EXPECT_TRUE(q->ForTransport("dir", {"/x"}).is_default);
}

Status Match(SignedIdentity::Type type, const std::string& image, const std::string& signed_ref,
             SignedIdentity extra = {}) {
  extra.type = type;
  return MatchSignedIdentity(extra, Ref(image), signed_ref);
}

constexpr char kD[] = "sha256:69704ef328d05a9f806b6b8502915e6a0a4faa4d72018dc42343f511490daf8a";

TEST(SignedIdentity, EveryForm) {
  using T = SignedIdentity::Type;
  std::string dig = std::string("quay.io/a/b@") + kD;
  // matchExact
  EXPECT_TRUE(Match(T::kMatchExact, "quay.io/a/b:1", "quay.io/a/b:1").ok());
  EXPECT_FALSE(Match(T::kMatchExact, "quay.io/a/b:1", "quay.io/a/b:2").ok());
  EXPECT_FALSE(Match(T::kMatchExact, "quay.io/a/b:1", "quay.io/a/b").ok());
  EXPECT_TRUE(Match(T::kMatchExact, dig, dig).ok());
  EXPECT_FALSE(Match(T::kMatchExact, dig, "quay.io/a/b:1").ok());
  EXPECT_TRUE(Match(T::kMatchExact, "busybox:latest", "docker.io/library/busybox:latest").ok());
  // matchRepoDigestOrExact
  EXPECT_TRUE(Match(T::kMatchRepoDigestOrExact, "quay.io/a/b:1", "quay.io/a/b:1").ok());
  EXPECT_FALSE(Match(T::kMatchRepoDigestOrExact, "quay.io/a/b:1", "quay.io/a/b:2").ok());
  EXPECT_TRUE(Match(T::kMatchRepoDigestOrExact, dig, "quay.io/a/b:anything").ok());
  EXPECT_FALSE(Match(T::kMatchRepoDigestOrExact, dig, "quay.io/a/c:1").ok());
  // matchRepository
  EXPECT_TRUE(Match(T::kMatchRepository, "quay.io/a/b:1", "quay.io/a/b:2").ok());
  EXPECT_TRUE(Match(T::kMatchRepository, "quay.io/a/b:1", "quay.io/a/b").ok());
  EXPECT_FALSE(Match(T::kMatchRepository, "quay.io/a/b:1", "quay.io/a/bb:1").ok());
  // exactReference
  SignedIdentity er;
  er.docker_reference = "docker.io/example/busybox:latest";
  EXPECT_TRUE(Match(T::kExactReference, "quay.io/x:1", "example/busybox:latest", er).ok());
  EXPECT_FALSE(Match(T::kExactReference, "quay.io/x:1", "example/busybox:1", er).ok());
  // exactRepository
  SignedIdentity rep;
  rep.docker_repository = "docker.io/example/busybox";
  EXPECT_TRUE(Match(T::kExactRepository, "quay.io/x:1", "example/busybox:9", rep).ok());
  EXPECT_FALSE(Match(T::kExactRepository, "quay.io/x:1", "example/other:9", rep).ok());
  // remapIdentity: mirror.local/ns → quay.io/upstream, then matchRepoDigestOrExact.
  SignedIdentity rm;
  rm.prefix = "mirror.local/ns";
  rm.signed_prefix = "quay.io/upstream";
  EXPECT_TRUE(Match(T::kRemapIdentity, "mirror.local/ns/app:1", "quay.io/upstream/app:1", rm).ok());
  EXPECT_FALSE(Match(T::kRemapIdentity, "mirror.local/ns/app:1", "mirror.local/ns/app:1", rm).ok());
  EXPECT_FALSE(Match(T::kRemapIdentity, "mirror.local/nsx/app:1", "quay.io/upstreamx/app:1", rm)
                   .ok());  // the prefix must end at a component boundary
  EXPECT_TRUE(Match(T::kRemapIdentity, "other.io/app:1", "other.io/app:1", rm).ok());
  // A bad signed reference, and the message format.
  Status bad = Match(T::kMatchExact, "quay.io/a/b:1", "quay.io/a/c:1");
  EXPECT_EQ(bad.error().message,
            "identity quay.io/a/c:1 does not match the policy's matchExact for quay.io/a/b:1");
  EXPECT_FALSE(Match(T::kMatchRepository, "quay.io/a/b:1", "NOT A REF").ok());
}

TEST(Policy, IdentityFormsParse) {
  auto p = Policy::Parse(R"({"default":[
    {"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","signedIdentity":{"type":"matchRepository"}},
    {"type":"signedBy","keyType":"GPGKeys","keyPaths":["/k1","/k2"],
     "signedIdentity":{"type":"remapIdentity","prefix":"mirror.local/ns","signedPrefix":"quay.io"}},
    {"type":"sigstoreSigned","keyPath":"/c.pub","signedIdentity":{"type":"exactRepository",
     "dockerRepository":"busybox"}}]})");
  ASSERT_TRUE(p.ok()) << p.error().message;
  const auto& d = p->default_requirements();
  EXPECT_EQ(d[1].key_paths.size(), 2u);
  EXPECT_EQ(d[2].signed_identity.docker_repository, "docker.io/library/busybox");
}

TEST(Policy, SigstoreKeyDataRawPemOrBase64) {
  std::string pem = Slurp(TestData("cosign/cosign1.pub"));
  nlohmann::json raw = {{"default", {{{"type", "sigstoreSigned"}, {"keyData", pem}}}}};
  auto a = Policy::Parse(raw.dump());
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(*a->default_requirements()[0].key_data, pem);
  nlohmann::json b64 = {
      {"default", {{{"type", "sigstoreSigned"}, {"keyData", Base64Encode(ToBytes(pem))}}}}};
  auto b = Policy::Parse(b64.dump());
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(*b->default_requirements()[0].key_data, pem);
  auto c = Policy::Parse(R"({"default":[{"type":"sigstoreSigned","keyData":"bm9uc2Vuc2U="}]})");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("neither a PEM"), std::string::npos);
}

TEST(Policy, RefusesBadPolicies) {
  struct Case {
    const char* json;
    const char* error_part;
  } cases[] = {
      {"{", "not valid JSON"},
      {"[]", "must be a JSON object"},
      {R"({"transports":{}})", "missing \"default\""},
      {R"({"default":[]})", "no requirements"},
      {R"({"default":[{"type":"reject"}],"transports":{"docker":{"quay.io":[]}}})",
       "no requirements"},
      {R"({"default":[{"type":"rejectt"}]})", "unknown requirement type \"rejectt\""},
      {R"({"default":[{"type":"reject","x":1}]})", "unknown field \"x\""},
      {R"({"default":[{"type":"reject"}],"extra":1})", "unknown field \"extra\""},
      {R"({"default":[{"type":"reject"}],"transports":{"ftp":{}}})", "unknown transport"},
      {R"({"default":[{"type":"signedBy","keyType":"GPGKeys"}]})", "exactly one of keyPath"},
      {R"({"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/a","keyData":"YQ=="}]})",
       "exactly one of keyPath"},
      {R"({"default":[{"type":"signedBy","keyType":"X509Certificates","keyPath":"/a"}]})",
       "keyType \"X509Certificates\" is not supported"},
      {R"({"default":[{"type":"signedBy","keyPath":"/a"}]})", "missing \"keyType\""},
      {R"({"default":[{"type":"signedBy","keyType":"GPGKeys","keyData":"!!"}]})", "not base64"},
      {R"({"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/a",
           "signedIdentity":{"type":"matchSomething"}}]})",
       "unknown signedIdentity type"},
      {R"({"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/a",
           "signedIdentity":{"type":"exactReference","dockerReference":"busybox"}}]})",
       "needs a tag or digest"},
      {R"({"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/a",
           "signedIdentity":{"type":"exactRepository","dockerRepository":"busybox:1"}}]})",
       "must not have a tag"},
      {R"({"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/a",
           "signedIdentity":{"type":"remapIdentity","prefix":"*.x.com","signedPrefix":"a.com"}}]})",
       "wildcard"},
      {R"({"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/a",
           "signedIdentity":{"type":"matchExact","dockerReference":"a:1"}}]})",
       "unknown field \"dockerReference\""},
      {R"({"default":[{"type":"sigstoreSigned","keyPath":"/a","fulcio":{}}]})",
       "\"fulcio\" is not supported"},
      {R"({"default":[{"type":"reject"}],"transports":{"docker":{"*.":[{"type":"reject"}]}}})",
       "invalid wildcard"},
      {R"({"default":[{"type":"reject"}],"transports":{"docker":{"Bad/Scope":[{"type":"reject"}]}}})",
       "transports.docker[\"Bad/Scope\"]"},
      {R"({"default":[{"type":"reject"}],"transports":{"docker":{"library/busybox":[{"type":"reject"}]}}})",
       "must begin with a registry host"},
      {R"({"default":[{"type":"reject"}],"transports":{"dir":{"relative":[{"type":"reject"}]}}})",
       "absolute path"},
  };
  for (const Case& c : cases) {
    auto p = Policy::Parse(c.json);
    ASSERT_FALSE(p.ok()) << c.json;
    EXPECT_EQ(p.error().code, Code::kInvalidArgument);
    EXPECT_NE(p.error().message.find(c.error_part), std::string::npos)
        << c.json << " -> " << p.error().message;
  }
}

}  // namespace
}  // namespace coco::signature
