#include "oci/manifest.h"

#include <gtest/gtest.h>

namespace coco::oci {
namespace {

std::string H(char c) { return "sha256:" + std::string(64, c); }

TEST(ManifestTest, ParsesOciManifestAndKeepsUnknownFields) {
  std::string text = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
    "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
                     H('a') +
                     R"(","size":10},
    "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip+encrypted","digest":")" +
                     H('b') + R"(","size":20,
      "annotations":{"org.opencontainers.image.enc.pubopts":"e30="}}],
    "subject":{"x":1}})";
  auto m = Manifest::Parse(text);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->config.digest.str(), H('a'));
  ASSERT_EQ(m->layers.size(), 1u);
  EXPECT_EQ(m->layers[0].size, 20);
  EXPECT_EQ(m->layers[0].annotations.at("org.opencontainers.image.enc.pubopts"), "e30=");
  auto again = Manifest::Parse(m->Serialize());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->Serialize(), m->Serialize());
  EXPECT_NE(m->Serialize().find("\"subject\""), std::string::npos);
}

TEST(ManifestTest, DockerMediaTypeFromContentType) {
  std::string text =
      R"({"schemaVersion":2,"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":")" +
      H('a') + R"(","size":1},"layers":[]})";
  auto m = Manifest::Parse(text, "application/vnd.docker.distribution.manifest.v2+json");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->media_type, media::kDockerManifest);
}

TEST(ManifestTest, Refusals) {
  EXPECT_FALSE(Manifest::Parse("[]").ok());
  EXPECT_FALSE(Manifest::Parse("not json").ok());
  EXPECT_FALSE(Manifest::Parse(R"({"schemaVersion":1,"fsLayers":[]})").ok());
  EXPECT_FALSE(Manifest::Parse(R"({"layers":[]})").ok());  // no config
  std::string neg =
      R"({"config":{"mediaType":"x","digest":")" + H('a') + R"(","size":-1},"layers":[]})";
  EXPECT_FALSE(Manifest::Parse(neg).ok());
  std::string bad_digest =
      R"({"config":{"mediaType":"x","digest":"sha256:1","size":1},"layers":[]})";
  auto r = Manifest::Parse(bad_digest);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("digest"), std::string::npos);
}

TEST(IndexTest, SelectsPlatformAndExplainsMisses) {
  std::string text =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
      H('1') +
      R"(","size":5,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
      H('2') + R"(","size":5,"platform":{"os":"linux","architecture":"amd64"}}]})";
  auto idx = Index::Parse(text);
  ASSERT_TRUE(idx.ok()) << idx.error().message;
  auto d = idx->Select();
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->digest.str(), H('2'));
  auto miss = idx->Select("linux", "s390x");
  ASSERT_FALSE(miss.ok());
  EXPECT_NE(miss.error().message.find("linux/arm64/v8"), std::string::npos);
  EXPECT_FALSE(Manifest::Parse(text).ok());  // an index is not a manifest
}

TEST(ImageConfigTest, ParsesDiffIdsAndProcess) {
  std::string text = R"({"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],
    "Cmd":["/bin/sh"],"WorkingDir":"/w","User":"1000"},"rootfs":{"type":"layers","diff_ids":[")" +
                     H('c') + R"("]}})";
  auto c = ImageConfig::Parse(text);
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_EQ(c->diff_ids.size(), 1u);
  EXPECT_EQ(c->cmd, std::vector<std::string>{"/bin/sh"});
  EXPECT_EQ(c->working_dir, "/w");
  EXPECT_FALSE(ImageConfig::Parse(R"({"rootfs":{"diff_ids":["sha256:xyz"]}})").ok());
  EXPECT_FALSE(ImageConfig::Parse(R"({"config":{"Env":[1]},"rootfs":{}})").ok());
}

}  // namespace
}  // namespace coco::oci
