// The pull's rules with fakes for the registry, the key source and the signature policy: the
// policy runs on every pull, cached or not; an encrypted layer's key is obtained by every pull
// before a cached plaintext may stand in; nothing is fetched when the policy refuses.
#include "image/puller.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace coco::image {
namespace {

constexpr char kPlainType[] = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr char kEncType[] = "application/vnd.oci.image.layer.v1.tar+gzip+encrypted";

std::string Xor(std::string s) {
  for (auto& c : s) c = static_cast<char>(c ^ 0x5a);
  return s;
}

// What happened, in order, across all fakes (calls may come from the puller's worker threads).
struct Journal {
  std::mutex mu;
  std::vector<std::string> events;
  void Add(const std::string& e) {
    std::lock_guard<std::mutex> l(mu);
    events.push_back(e);
  }
  std::vector<std::string> Take() {
    std::lock_guard<std::mutex> l(mu);
    return std::exchange(events, {});
  }
};

oci::Descriptor Describe(const std::string& media_type, const std::string& bytes) {
  oci::Descriptor d;
  d.media_type = media_type;
  d.digest = oci::Digest::Sha256Of(bytes);
  d.size = static_cast<int64_t>(bytes.size());
  return d;
}

// A registry holding one image: a plain layer and an encrypted one (the "cipher" is XOR).
class FakeSource : public oci::ImageSource {
 public:
  explicit FakeSource(Journal* j) : journal_(j) {
    plain_ = "plain layer bytes";
    secret_ = "the secret layer's plaintext";
    cipher_ = Xor(secret_);
    plain_desc_ = Describe(kPlainType, plain_);
    enc_desc_ = Describe(kEncType, cipher_);
    nlohmann::json config = {
        {"architecture", "amd64"},
        {"os", "linux"},
        {"rootfs",
         {{"type", "layers"},
          {"diff_ids",
           {oci::Digest::Sha256Of("tar 1").str(), oci::Digest::Sha256Of("tar 2").str()}}}}};
    config_ = config.dump();
    config_desc_ = Describe("application/vnd.oci.image.config.v1+json", config_);
    auto desc = [](const oci::Descriptor& d) {
      return nlohmann::json{
          {"mediaType", d.media_type}, {"digest", d.digest.str()}, {"size", d.size}};
    };
    nlohmann::json m = {{"schemaVersion", 2},
                        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                        {"config", desc(config_desc_)},
                        {"layers", {desc(plain_desc_), desc(enc_desc_)}}};
    manifest_.bytes = m.dump();
    manifest_.media_type = "application/vnd.oci.image.manifest.v1+json";
    manifest_.digest = oci::Digest::Sha256Of(manifest_.bytes);
    blobs_ = {{config_desc_.digest.str(), config_},
              {plain_desc_.digest.str(), plain_},
              {enc_desc_.digest.str(), cipher_}};
  }
  Result<oci::FetchedManifest> GetManifest() override { return manifest_; }
  Result<oci::FetchedManifest> GetManifestByDigest(const oci::Digest&) override {
    return MakeError(Code::kNotFound, "no index here");
  }
  Status FetchBlob(const oci::Descriptor& d, Writer& out, const oci::ProgressFn&) override {
    journal_->Add("fetch " + Name(d.digest));
    auto it = blobs_.find(d.digest.str());
    if (it == blobs_.end()) return MakeError(Code::kNotFound, "no blob " + d.digest.str());
    return out.Write(reinterpret_cast<const uint8_t*>(it->second.data()), it->second.size());
  }
  std::string Name(const oci::Digest& d) const {
    if (d == config_desc_.digest) return "config";
    if (d == plain_desc_.digest) return "plain";
    if (d == enc_desc_.digest) return "encrypted";
    return d.str();
  }

  Journal* journal_;
  std::string plain_, secret_, cipher_, config_;
  oci::Descriptor plain_desc_, enc_desc_, config_desc_;
  oci::FetchedManifest manifest_;
  std::map<std::string, std::string> blobs_;
};

class XorWriter final : public Writer {
 public:
  explicit XorWriter(Writer& down) : down_(down) {}
  Status Write(const uint8_t* p, size_t n) override {
    std::string s(reinterpret_cast<const char*>(p), n);
    s = Xor(s);
    return down_.Write(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  Status Close() override { return down_.Close(); }

 private:
  Writer& down_;
};

class FakeDecryption final : public LayerDecryption {
 public:
  explicit FakeDecryption(oci::Digest plain) : plain_(std::move(plain)) {}
  const oci::Digest& plaintext_digest() const override { return plain_; }
  Result<std::unique_ptr<Writer>> Decrypter(Writer& downstream) override {
    return std::unique_ptr<Writer>(std::make_unique<XorWriter>(downstream));
  }

 private:
  oci::Digest plain_;
};

// A key source that knows the one key, or refuses (as a broker whose policy denies would).
class FakeKeys final : public LayerKeys {
 public:
  FakeKeys(Journal* j, oci::Digest plain) : journal_(j), plain_(std::move(plain)) {}
  Result<std::unique_ptr<LayerDecryption>> Unwrap(const oci::Descriptor& layer) override {
    journal_->Add("unwrap");
    if (refuse)
      return MakeError(Code::kPolicyDenied, "the broker's resource policy denied the key");
    return std::unique_ptr<LayerDecryption>(std::make_unique<FakeDecryption>(plain_));
  }
  bool refuse = false;

 private:
  Journal* journal_;
  oci::Digest plain_;
};

class FakeCheck final : public SignatureCheck {
 public:
  explicit FakeCheck(Journal* j) : journal_(j) {}
  Status Verify(const oci::ImageLocation&, const oci::FetchedManifest&,
                oci::ImageSource&) override {
    journal_->Add("policy");
    if (deny) return MakeError(Code::kPolicyDenied, "the signature policy rejects this image");
    return Status::Ok();
  }
  bool deny = false;

 private:
  Journal* journal_;
};

class PullerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/coco-puller-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto s = oci::ContentStore::Open(dir_ + "/store");
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
    loc_ = *oci::ImageLocation::Parse("docker://localhost:5000/app:1");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Result<PulledImage> DoPull(LayerKeys* keys) {
    PullOptions o;
    o.max_concurrent_layers = 1;  // a deterministic journal
    return Pull(loc_, source_, *store_, &check_, keys, o);
  }

  Journal journal_;
  FakeSource source_{&journal_};
  FakeCheck check_{&journal_};
  FakeKeys keys_{&journal_, oci::Digest::Sha256Of(source_.secret_)};
  std::string dir_;
  std::unique_ptr<oci::ContentStore> store_;
  oci::ImageLocation loc_;
};

TEST_F(PullerTest, PolicyFirstThenKeyThenDownloadAndTheStoreHoldsThePlaintext) {
  auto r = DoPull(&keys_);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(journal_.Take(), (std::vector<std::string>{"policy", "fetch config", "fetch plain",
                                                       "unwrap", "fetch encrypted"}));
  ASSERT_EQ(r->layers.size(), 2u);
  EXPECT_FALSE(r->layers[0].encrypted);
  EXPECT_TRUE(r->layers[1].encrypted);
  EXPECT_EQ(r->layers[1].media_type, kPlainType);
  EXPECT_EQ(r->layers[1].stored, oci::Digest::Sha256Of(source_.secret_));
  EXPECT_EQ(*store_->ReadBlob(r->layers[1].stored), source_.secret_);
  EXPECT_FALSE(store_->Has(source_.enc_desc_.digest));  // the ciphertext is not kept
}

TEST_F(PullerTest, ACachedPullRunsThePolicyAndObtainsTheKeyAgain) {
  ASSERT_TRUE(DoPull(&keys_).ok());
  journal_.Take();
  auto again = DoPull(&keys_);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(journal_.Take(), (std::vector<std::string>{"policy", "unwrap"}));  // nothing fetched
  EXPECT_TRUE(again->layers[0].cached);
  EXPECT_TRUE(again->layers[1].cached);
}

TEST_F(PullerTest, ACachedPlaintextNeverStandsInForAKeyThisPullLacks) {
  ASSERT_TRUE(DoPull(&keys_).ok());
  journal_.Take();
  keys_.refuse = true;
  auto denied = DoPull(&keys_);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, Code::kPolicyDenied);
  EXPECT_NE(denied.error().message.find("layer 2 "), std::string::npos) << denied.error().message;
  EXPECT_EQ(journal_.Take(), (std::vector<std::string>{"policy", "unwrap"}));
  auto no_keys = DoPull(nullptr);
  ASSERT_FALSE(no_keys.ok());
  EXPECT_EQ(no_keys.error().code, Code::kKeyMissing);
  EXPECT_NE(no_keys.error().message.find("--decryption-key"), std::string::npos);
}

TEST_F(PullerTest, ARefusingPolicyFetchesNothing) {
  check_.deny = true;
  auto r = DoPull(&keys_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kPolicyDenied);
  EXPECT_EQ(journal_.Take(), (std::vector<std::string>{"policy"}));
  EXPECT_FALSE(store_->Has(source_.plain_desc_.digest));
}

TEST_F(PullerTest, ATamperedCiphertextCommitsNothing) {
  source_.blobs_[source_.enc_desc_.digest.str()][0] ^= 1;  // the XOR "cipher" has no MAC: the
  auto r = DoPull(&keys_);                                 // plaintext digest catches it
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kDigestMismatch) << r.error().message;
  EXPECT_FALSE(store_->Has(oci::Digest::Sha256Of(source_.secret_)));
}

}  // namespace
}  // namespace coco::image
