#include "oci/content_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

namespace coco::oci {
namespace {

namespace fs = std::filesystem;

class ContentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/coco-store-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  size_t TempFiles() const {
    size_t n = 0;
    for (auto& e : fs::directory_iterator(dir_ + "/tmp")) n += e.is_regular_file();
    return n;
  }
  std::string dir_;
};

const uint8_t* U(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

TEST_F(ContentStoreTest, CommitsOnlyVerifiedBlobs) {
  auto store = ContentStore::Open(dir_);
  ASSERT_TRUE(store.ok()) << store.error().message;
  std::string data = "hello layer";
  Digest d = Digest::Sha256Of(data);

  auto w = (*store)->NewWriter(d, static_cast<int64_t>(data.size()));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(U(data), 5).ok());
  EXPECT_FALSE((*store)->Has(d));  // nothing visible mid-write
  ASSERT_TRUE((*w)->Write(U(data) + 5, data.size() - 5).ok());
  ASSERT_TRUE((*w)->Close().ok());
  EXPECT_TRUE((*store)->Has(d));
  auto back = (*store)->ReadBlob(d);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);

  // Wrong content: refused at Close, nothing committed, no temp file left.
  Digest other = Digest::Sha256Of("other");
  {
    auto bad = (*store)->NewWriter(other, -1);
    ASSERT_TRUE(bad.ok());
    ASSERT_TRUE((*bad)->Write(U(data), data.size()).ok());
    Status s = (*bad)->Close();
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, Code::kDigestMismatch);
  }
  EXPECT_FALSE((*store)->Has(other));
  EXPECT_EQ(TempFiles(), 0u);

  // Size larger than the descriptor: refused at the first excess byte.
  {
    auto big = (*store)->NewWriter(d, 3);
    ASSERT_TRUE(big.ok());
    EXPECT_FALSE((*big)->Write(U(data), data.size()).ok());
  }
  // Abandoned writer (interrupted pull): nothing left behind.
  {
    auto w2 = (*store)->NewWriter(Digest::Sha256Of("x"), 1);
    ASSERT_TRUE(w2.ok());
    EXPECT_EQ(TempFiles(), 1u);
  }
  EXPECT_EQ(TempFiles(), 0u);
}

TEST_F(ContentStoreTest, DetectsCorruptionOnRead) {
  auto store = ContentStore::Open(dir_);
  ASSERT_TRUE(store.ok());
  auto d = (*store)->PutBlob("{\"a\":1}");
  ASSERT_TRUE(d.ok());
  {
    std::FILE* f = std::fopen((*store)->BlobPath(*d).c_str(), "w");
    std::fputs("{\"a\":2}", f);
    std::fclose(f);
  }
  auto r = (*store)->ReadBlob(*d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kDigestMismatch);
  EXPECT_FALSE((*store)->ReadBlob(*d, 2).ok());  // over the size limit
}

TEST_F(ContentStoreTest, PruneKeepsRecordedImages) {
  auto store = ContentStore::Open(dir_);
  ASSERT_TRUE(store.ok());
  auto a = (*store)->PutBlob("manifest-a");
  auto b = (*store)->PutBlob("layer-shared");
  auto c = (*store)->PutBlob("layer-orphan");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  ASSERT_TRUE((*store)->RecordImage({"docker://h/app:v1", *a, {*a, *b}}).ok());
  auto images = (*store)->ListImages();
  ASSERT_TRUE(images.ok());
  ASSERT_EQ(images->size(), 1u);
  EXPECT_EQ((*images)[0].name, "docker://h/app:v1");

  auto report = (*store)->Prune();
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->blobs_removed, 1u);
  EXPECT_EQ(report->blobs_kept, 2u);
  EXPECT_TRUE((*store)->Has(*a));
  EXPECT_TRUE((*store)->Has(*b));
  EXPECT_FALSE((*store)->Has(*c));

  ASSERT_TRUE((*store)->RemoveImage("docker://h/app:v1").ok());
  report = (*store)->Prune();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->blobs_removed, 2u);
}

TEST_F(ContentStoreTest, PruneRefusedWhileAnotherUserHoldsTheStore) {
  auto first = ContentStore::Open(dir_);
  auto second = ContentStore::Open(dir_);  // another handle = another open file description
  ASSERT_TRUE(first.ok() && second.ok());
  auto r = (*first)->Prune();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  second->reset();
  EXPECT_TRUE((*first)->Prune().ok());
}

}  // namespace
}  // namespace coco::oci
