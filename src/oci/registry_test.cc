// Registry client logic against an in-process fake registry (cpp-httplib on 127.0.0.1): bearer
// challenges, retries, resumed blobs and verification. The real registry is exercised by the
// end-to-end tests.
#include "oci/registry.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <thread>

#include "base/bytes.h"
#include "base/file.h"
#include "crypto/crypto.h"

namespace coco::oci {
namespace {

class StringWriter : public Writer {
 public:
  Status Write(const uint8_t* d, size_t n) override {
    data.append(reinterpret_cast<const char*>(d), n);
    return Status::Ok();
  }
  std::string data;
};

class FakeRegistry {
 public:
  FakeRegistry() {
    blob_.resize(300000);
    for (size_t i = 0; i < blob_.size(); ++i) blob_[i] = static_cast<char>(i * 31 + 7);
    manifest_ =
        R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
        Digest::Sha256Of("{}").str() + R"(","size":2},"layers":[]})";
    server_.Get("/token", [this](const httplib::Request& req, httplib::Response& res) {
      ++token_requests;
      last_token_auth = req.get_header_value("Authorization");
      last_scope = req.get_param_value("scope");
      res.set_content(R"({"token":"tok123"})", "application/json");
    });
    auto authorized = [this](const httplib::Request& req, httplib::Response& res) {
      if (req.get_header_value("Authorization") == "Bearer tok123") return true;
      res.status = 401;
      res.set_header("WWW-Authenticate",
                     "Bearer realm=\"http://127.0.0.1:" + std::to_string(port) +
                         "/token\",service=\"fake\",scope=\"repository:" + "team/app:pull\"");
      return false;
    };
    server_.Get(R"(/v2/team/app/manifests/(.+))",
                [this, authorized](const httplib::Request& req, httplib::Response& res) {
                  if (!authorized(req, res)) return;
                  if (flaky_manifest > 0) {
                    --flaky_manifest;
                    res.status = 503;
                    return;
                  }
                  res.set_content(serve_wrong_manifest ? manifest_ + " " : manifest_,
                                  "application/vnd.oci.image.manifest.v1+json");
                });
    server_.Get(R"(/v2/team/app/blobs/(.+))", [this, authorized](const httplib::Request& req,
                                                                 httplib::Response& res) {
      if (!authorized(req, res)) return;
      std::string range = req.get_header_value("Range");
      if (!range.empty()) ranges_seen += range + ";";
      if (cut_first_blob_at > 0) {
        // Announce the whole blob, send part of it, drop the connection.
        size_t cut = cut_first_blob_at;
        cut_first_blob_at = 0;
        res.set_content_provider(blob_.size(), "application/octet-stream",
                                 [this, cut](size_t offset, size_t, httplib::DataSink& sink) {
                                   if (offset >= cut) return false;
                                   sink.write(blob_.data() + offset, cut - offset);
                                   return true;
                                 });
        return;
      }
      // cpp-httplib answers a Range request with 206 and the slice itself.
      res.set_content(blob_, "application/octet-stream");
    });
    port = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeRegistry() {
    server_.stop();
    thread_.join();
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(port); }

  std::string blob_, manifest_;
  int port = 0;
  std::atomic<int> token_requests{0};
  std::atomic<int> flaky_manifest{0};
  std::atomic<bool> serve_wrong_manifest{false};
  std::atomic<size_t> cut_first_blob_at{0};
  std::string last_token_auth, last_scope, ranges_seen;

 private:
  httplib::Server server_;
  std::thread thread_;
};

RegistryOptions FastOptions() {
  RegistryOptions o;
  o.initial_backoff_ms = 10;
  return o;
}

class RegistryClientTest : public ::testing::Test {
 protected:
  Result<std::unique_ptr<RegistryClient>> NewClient(const RegistryOptions& o) {
    return RegistryClient::Create(o);
  }
};

TEST_F(RegistryClientTest, BearerChallengeRetriesAndManifestDigest) {
  FakeRegistry reg;
  reg.flaky_manifest = 2;
  auto client = NewClient(FastOptions());
  ASSERT_TRUE(client.ok());
  auto loc = ImageLocation::Parse("docker://" + reg.host() + "/team/app:v1");
  ASSERT_TRUE(loc.ok());
  auto m = (*client)->GetManifest(*loc, "v1");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->bytes, reg.manifest_);
  EXPECT_EQ(m->digest, Digest::Sha256Of(reg.manifest_));
  EXPECT_EQ(m->media_type, media::kOciManifest);
  EXPECT_EQ(reg.token_requests, 1);
  EXPECT_EQ(reg.last_scope, "repository:team/app:pull");
  EXPECT_EQ(reg.last_token_auth, "");  // no credentials configured: anonymous token

  // Pulled by digest: the served bytes must hash to it.
  reg.serve_wrong_manifest = true;
  auto wrong = (*client)->GetManifest(*loc, Digest::Sha256Of(reg.manifest_).str());
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, Code::kDigestMismatch);
}

TEST_F(RegistryClientTest, CredentialsFromAuthFileGoToTheTokenService) {
  FakeRegistry reg;
  char tmpl[] = "/tmp/coco-auth-XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  close(fd);
  ASSERT_TRUE(WriteFileAtomic(tmpl, R"({"auths":{")" + reg.host() + R"(":{"auth":")" +
                                        Base64Encode(ToBytes("alice:s3cret")) + R"("}}})")
                  .ok());
  RegistryOptions o = FastOptions();
  o.auth_file = tmpl;
  auto client = NewClient(o);
  ASSERT_TRUE(client.ok()) << client.error().message;
  auto loc = ImageLocation::Parse("docker://" + reg.host() + "/team/app:v1");
  ASSERT_TRUE((*client)->GetManifest(*loc, "v1").ok());
  EXPECT_EQ(reg.last_token_auth, "Basic " + Base64Encode(ToBytes("alice:s3cret")));
  unlink(tmpl);

  ASSERT_TRUE(WriteFileAtomic(tmpl, R"({"auths":{"x":{"auth":"bm9jb2xvbg=="}}})").ok());
  auto bad = NewClient(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("user:password"), std::string::npos);
  unlink(tmpl);
}

TEST_F(RegistryClientTest, InterruptedBlobResumesWithRange) {
  FakeRegistry reg;
  reg.cut_first_blob_at = 100000;
  auto client = NewClient(FastOptions());
  ASSERT_TRUE(client.ok());
  auto loc = ImageLocation::Parse("docker://" + reg.host() + "/team/app:v1");
  Descriptor d;
  d.media_type = media::kOciLayerTar;
  d.digest = Digest::Sha256Of(reg.blob_);
  d.size = static_cast<int64_t>(reg.blob_.size());
  StringWriter out;
  uint64_t last_progress = 0;
  ProgressFn progress = [&](uint64_t done, uint64_t total) {
    EXPECT_EQ(total, reg.blob_.size());
    last_progress = done;
  };
  Status s = (*client)->FetchBlob(*loc, d, out, progress);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(out.data.size(), reg.blob_.size());
  EXPECT_TRUE(out.data == reg.blob_);  // (no dump of binary data on failure)
  EXPECT_NE(reg.ranges_seen.find("bytes="), std::string::npos);
  EXPECT_EQ(last_progress, reg.blob_.size());
}

TEST_F(RegistryClientTest, SchemeIsProbedOrTakenFromAHintForInsecureRegistriesOnly) {
  FakeRegistry reg;  // plain HTTP on loopback (insecure by default)
  auto probed = NewClient(FastOptions());
  ASSERT_TRUE(probed.ok());
  EXPECT_EQ((*probed)->Scheme(reg.host()), "http");  // HTTPS failed, so HTTP

  RegistryOptions hinted = FastOptions();
  hinted.schemes[reg.host()] = "http";
  auto h = NewClient(hinted);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ((*h)->Scheme(reg.host()), "http");
  auto loc = ImageLocation::Parse("docker://" + reg.host() + "/team/app:v1");
  ASSERT_TRUE((*h)->GetManifest(*loc, "v1").ok());

  // A registry that must be reached over HTTPS ignores an "http" hint (no downgrade).
  RegistryOptions secure = FastOptions();
  secure.loopback_insecure = false;
  secure.schemes[reg.host()] = "http";
  auto s = NewClient(secure);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->Scheme(reg.host()), "https");
}

TEST_F(RegistryClientTest, UnreachableRegistryFailsAfterBoundedAttempts) {
  RegistryOptions o = FastOptions();
  o.max_attempts = 2;
  auto client = NewClient(o);
  ASSERT_TRUE(client.ok());
  // A port nobody listens on: bind without listening, read the port, close.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  auto loc = ImageLocation::Parse("docker://127.0.0.1:" + std::to_string(port) + "/team/app:v1");
  auto m = (*client)->GetManifest(*loc, "v1");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("gave up after 2 attempts"), std::string::npos)
      << m.error().message;
}

}  // namespace
}  // namespace coco::oci
