#include "oci/reference.h"

#include <gtest/gtest.h>

namespace coco::oci {
namespace {

TEST(DigestTest, ParsesAndRefuses) {
  std::string hex(64, 'a');
  auto d = Digest::Parse("sha256:" + hex);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->str(), "sha256:" + hex);
  EXPECT_FALSE(Digest::Parse("sha256:" + std::string(63, 'a')).ok());
  EXPECT_FALSE(Digest::Parse("sha256:" + std::string(64, 'A')).ok());
  EXPECT_FALSE(Digest::Parse("md5:" + std::string(32, 'a')).ok());
  EXPECT_FALSE(Digest::Parse(hex).ok());
  EXPECT_TRUE(Digest::Parse("sha512:" + std::string(128, '0')).ok());
  EXPECT_EQ(Digest::Sha256Of("").hex,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(ImageLocationTest, DockerForms) {
  auto a = ImageLocation::Parse("docker://busybox");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->registry, "docker.io");
  EXPECT_EQ(a->repository, "library/busybox");
  EXPECT_EQ(a->tag, "latest");
  EXPECT_EQ(a->ToString(), "docker://docker.io/library/busybox:latest");

  auto b = ImageLocation::Parse("docker://localhost:5000/team/app:v1.2");
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(b->registry, "localhost:5000");
  EXPECT_EQ(b->repository, "team/app");
  EXPECT_EQ(b->tag, "v1.2");
  EXPECT_EQ(b->DockerReference(), "localhost:5000/team/app:v1.2");

  std::string digest = "sha256:" + std::string(64, 'b');
  auto c = ImageLocation::Parse("docker://127.0.0.1:5000/app@" + digest);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->tag, "");
  EXPECT_EQ(c->digest, digest);
  EXPECT_EQ(c->ManifestReference(), digest);

  auto d = ImageLocation::Parse("docker://quay.io/org/app:v1@" + digest);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->ManifestReference(), digest);  // the digest wins over the tag
  EXPECT_EQ(d->DockerReference(), "quay.io/org/app:v1@" + digest);

  auto e = ImageLocation::Parse("docker://myuser/app");  // no host: docker.io, no library/
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->registry, "docker.io");
  EXPECT_EQ(e->repository, "myuser/app");
}

TEST(ImageLocationTest, OciForms) {
  auto a = ImageLocation::Parse("oci:/tmp/layout:v1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->dir, "/tmp/layout");
  EXPECT_EQ(a->tag, "v1");
  auto b = ImageLocation::Parse("oci:./layout");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->dir, "./layout");
  EXPECT_EQ(b->tag, "");
  EXPECT_EQ(b->ToString(), "oci:./layout");
}

TEST(ImageLocationTest, Refusals) {
  for (const char* bad :
       {"busybox", "docker://", "docker://Upper/Case", "docker://a/b:", "docker://a/b@sha256:zz",
        "oci:", "oci:dir:", "http://x/y", "docker://host:5000/repo:bad tag", "docker://a//b"}) {
    auto r = ImageLocation::Parse(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_FALSE(r.error().message.empty());
    }
  }
}

}  // namespace
}  // namespace coco::oci
