#include <gtest/gtest.h>

#include "crypto/crypto.h"
#include "ocicrypt/keywrap.h"
#include "ocicrypt/layer_cipher.h"
#include "ocicrypt/layer_keys.h"
#include "ocicrypt/options.h"
#include "ocicrypt/provider_packet.h"

namespace coco::ocicrypt {
namespace {

struct Sink : Writer {
  Bytes data;
  bool closed = false;
  Status Write(const uint8_t* p, size_t n) override {
    data.insert(data.end(), p, p + n);
    return Status::Ok();
  }
  Status Close() override {
    closed = true;
    return Status::Ok();
  }
};

Bytes Pattern(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 131 + (i >> 9));
  return b;
}

// Feeds `data` in uneven pieces so chunk boundaries fall everywhere.
Status FeedUneven(Writer& w, const Bytes& data) {
  size_t off = 0, step = 1;
  while (off < data.size()) {
    size_t n = std::min(step, data.size() - off);
    COCO_RETURN_IF_ERROR(w.Write(data.data() + off, n));
    off += n;
    step = step * 3 + 7;
  }
  return w.Close();
}

TEST(LayerCipher, MatchesOneShotCtrAndHmacOverCiphertext) {
  SecretBytes key(crypto::RandomBytes(32));
  Bytes nonce = crypto::RandomBytes(16);
  nonce[15] = 0xff;  // the counter carries into the next byte within the first blocks
  Bytes plain = Pattern(3 * 256 * 1024 + 12345);
  Sink ct;
  auto enc = LayerEncryptor::Create(key, nonce, ct);
  ASSERT_TRUE(enc.ok());
  ASSERT_TRUE(FeedUneven(**enc, plain).ok());
  EXPECT_TRUE(ct.closed);
  auto expect_ct = crypto::AesCtr(key.bytes(), nonce, plain);
  ASSERT_TRUE(expect_ct.ok());
  EXPECT_EQ(ct.data, *expect_ct);
  auto expect_mac = crypto::HmacSha256(key.bytes(), ToString(ct.data));
  ASSERT_TRUE(expect_mac.ok());
  EXPECT_EQ((*enc)->hmac(), *expect_mac);

  Sink out;
  auto dec = NewLayerDecryptor(key, nonce, (*enc)->hmac(), out);
  ASSERT_TRUE(dec.ok());
  ASSERT_TRUE(FeedUneven(**dec, ct.data).ok());
  EXPECT_TRUE(out.closed);
  EXPECT_EQ(out.data, plain);
}

TEST(LayerCipher, TamperedOrTruncatedCiphertextNeverClosesDownstream) {
  SecretBytes key(crypto::RandomBytes(32));
  Bytes nonce = crypto::RandomBytes(16);
  Bytes plain = Pattern(100000);
  Sink ct;
  auto enc = LayerEncryptor::Create(key, nonce, ct).value();
  ASSERT_TRUE(FeedUneven(*enc, plain).ok());
  for (int variant = 0; variant < 3; ++variant) {
    Bytes bad = ct.data;
    if (variant == 0) bad[50000] ^= 0x01;
    if (variant == 1) bad.pop_back();
    if (variant == 2) bad.push_back(0);
    Sink out;
    auto dec = NewLayerDecryptor(key, nonce, enc->hmac(), out).value();
    Status s = FeedUneven(*dec, bad);
    ASSERT_FALSE(s.ok()) << variant;
    EXPECT_EQ(s.error().code, Code::kDigestMismatch);
    EXPECT_FALSE(out.closed);
  }
}

TEST(LayerCipher, DownstreamFailureStopsDecryptionWithItsError) {
  struct FailingSink : Writer {
    size_t limit, seen = 0;
    bool closed = false;
    explicit FailingSink(size_t l) : limit(l) {}
    Status Write(const uint8_t*, size_t n) override {
      seen += n;
      if (seen > limit) return MakeError(Code::kIo, "disk full");
      return Status::Ok();
    }
    Status Close() override {
      closed = true;
      return Status::Ok();
    }
  };
  SecretBytes key(crypto::RandomBytes(32));
  Bytes nonce = crypto::RandomBytes(16);
  Bytes plain = Pattern(8 << 20);
  Sink ct;
  auto enc = LayerEncryptor::Create(key, nonce, ct).value();
  ASSERT_TRUE(FeedUneven(*enc, plain).ok());
  FailingSink out(1 << 20);
  auto dec = NewLayerDecryptor(key, nonce, enc->hmac(), out).value();
  Status s = FeedUneven(*dec, ct.data);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("disk full"), std::string::npos);
  EXPECT_FALSE(out.closed);
  // Destroying a decryptor mid-stream (no Close) neither hangs nor closes downstream.
  FailingSink out2(64 << 20);
  {
    auto d2 = NewLayerDecryptor(key, nonce, enc->hmac(), out2).value();
    ASSERT_TRUE(d2->Write(ct.data.data(), 3 << 20).ok());
  }
  EXPECT_FALSE(out2.closed);
}

TEST(LayerCipher, RefusesBadKeyNonceAndMissingHmac) {
  Sink s;
  EXPECT_FALSE(LayerEncryptor::Create(SecretBytes(Bytes(31)), Bytes(16), s).ok());
  EXPECT_FALSE(LayerEncryptor::Create(SecretBytes(Bytes(32)), Bytes(12), s).ok());
  auto r = NewLayerDecryptor(SecretBytes(Bytes(32)), Bytes(16), Bytes(), s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no HMAC"), std::string::npos);
}

TEST(Options, ParseGoEncodedPrivateAndPublicOptions) {
  // As Go's encoding/json writes them (field order, padded base64).
  std::string priv =
      R"({"symkey":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","digest":"sha256:)" +
      std::string(64, 'a') + R"(","cipheroptions":{"nonce":"AAECAwQFBgcICQoLDA0ODw=="}})";
  auto p = ParsePrivateOptions(SecretBytes(ToBytes(priv)));
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->symkey.bytes()[31], 31);
  EXPECT_EQ(p->nonce.size(), 16u);
  EXPECT_EQ(ToString(SerializePrivateOptions(*p).bytes()), priv);

  std::string pub = R"({"cipher":"AES_256_CTR_HMAC_SHA256","hmac":")" + Base64Encode(Bytes(32, 7)) +
                    R"(","cipheroptions":{}})";
  auto q = ParsePublicOptions(pub);
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->hmac, Bytes(32, 7));
  EXPECT_EQ(SerializePublicOptions(*q), pub);
  EXPECT_FALSE(ParsePublicOptions(R"({"cipher":"AES_256_CTR_HMAC_SHA256","hmac":""})").ok());
  EXPECT_FALSE(ParsePublicOptions(R"({"cipher":"AES_128_GCM","hmac":"AA=="})").ok());
  EXPECT_FALSE(ParsePrivateOptions(SecretBytes(ToBytes("{\"symkey\":\"AA==\"}"))).ok());
}

TEST(LayerKeys, JweAndProviderRecipientsBothOpenTheLayer) {
  crypto::Key rsa = crypto::Key::GenerateRsa(2048).value();
  crypto::Key ec = crypto::Key::GenerateEc(crypto::Curve::kP384).value();
  SecretBytes kek(crypto::RandomBytes(32));
  PrivateOptions priv = NewPrivateOptions("sha256:" + std::string(64, 'b'));
  PublicOptions pub;
  pub.hmac = Bytes(32, 1);
  auto jwe = NewJweWrapper({{rsa.PublicOnly(), "RSA-OAEP"}, {ec.PublicOnly(), ""}});
  auto prov = NewProviderWrapper("attestation-agent", "kbs:///default/key/one", kek);
  auto ann = EncryptionAnnotations(priv, pub, {jwe.get(), prov.get()});
  ASSERT_TRUE(ann.ok()) << ann.error().message;
  EXPECT_EQ(ann->size(), 3u);
  EXPECT_TRUE(ann->count(kAnnotationJwe));
  EXPECT_TRUE(ann->count("org.opencontainers.image.enc.keys.provider.attestation-agent"));

  auto by_ec = NewJweUnwrapper({ec});
  auto k = UnwrapLayerKey(*ann, {by_ec.get()});
  ASSERT_TRUE(k.ok()) << k.error().message;
  EXPECT_EQ(k->priv.symkey.bytes(), priv.symkey.bytes());
  EXPECT_EQ(k->priv.nonce, priv.nonce);
  EXPECT_EQ(k->priv.digest, priv.digest);
  EXPECT_EQ(k->pub.hmac, pub.hmac);

  std::vector<std::string> asked;
  auto by_kbs = NewProviderUnwrapper([&](const std::string& kid) -> Result<SecretBytes> {
    asked.push_back(kid);
    return kek;
  });
  k = UnwrapLayerKey(*ann, {by_kbs.get()});
  ASSERT_TRUE(k.ok()) << k.error().message;
  EXPECT_EQ(k->annotation, "org.opencontainers.image.enc.keys.provider.attestation-agent");
  EXPECT_EQ(asked, std::vector<std::string>{"kbs:///default/key/one"});
}

TEST(LayerKeys, WrongKeysAreRefusedNamingTheKeyId) {
  SecretBytes kek(crypto::RandomBytes(32));
  PrivateOptions priv = NewPrivateOptions("sha256:" + std::string(64, 'c'));
  PublicOptions pub;
  pub.hmac = Bytes(32, 2);
  for (std::string wrap : {"A256GCM", "A256CTR"}) {
    auto prov = NewProviderWrapper("attestation-agent", "kbs:///default/key/two", kek, wrap);
    auto ann = EncryptionAnnotations(priv, pub, {prov.get()}).value();
    auto wrong = NewProviderUnwrapper(
        [](const std::string&) -> Result<SecretBytes> { return SecretBytes(Bytes(32, 9)); },
        /*allow_ctr=*/true);
    auto k = UnwrapLayerKey(ann, {wrong.get()});
    ASSERT_FALSE(k.ok()) << wrap;
    EXPECT_EQ(k.error().code, Code::kKeyMismatch) << k.error().message;
    EXPECT_NE(k.error().message.find("kbs:///default/key/two"), std::string::npos);
    auto unreachable = NewProviderUnwrapper(
        [](const std::string&) -> Result<SecretBytes> {
          return MakeError(Code::kPolicyDenied, "resource policy denied");
        },
        /*allow_ctr=*/true);
    k = UnwrapLayerKey(ann, {unreachable.get()});
    ASSERT_FALSE(k.ok());
    EXPECT_EQ(k.error().code, Code::kPolicyDenied);
    EXPECT_NE(k.error().message.find("kbs:///default/key/two"), std::string::npos);
    // No unwrapper for the scheme at all.
    auto jwe_only = NewJweUnwrapper({crypto::Key::GenerateEc(crypto::Curve::kP256).value()});
    k = UnwrapLayerKey(ann, {jwe_only.get()});
    ASSERT_FALSE(k.ok());
    EXPECT_EQ(k.error().code, Code::kKeyMissing);
    EXPECT_NE(k.error().message.find("provider.attestation-agent"), std::string::npos);
  }
}

TEST(LayerKeys, CtrWrappedKeysNeedExplicitConsent) {
  SecretBytes kek(crypto::RandomBytes(32));
  PrivateOptions priv = NewPrivateOptions("sha256:" + std::string(64, 'd'));
  PublicOptions pub;
  pub.hmac = Bytes(32, 3);
  auto prov = NewProviderWrapper("attestation-agent", "kbs:///default/key/ctr", kek, "A256CTR");
  auto ann = EncryptionAnnotations(priv, pub, {prov.get()}).value();
  auto source = [&](const std::string&) -> Result<SecretBytes> { return kek; };
  auto strict = NewProviderUnwrapper(source);
  auto k = UnwrapLayerKey(ann, {strict.get()});
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.error().message.find("A256CTR"), std::string::npos);
  EXPECT_NE(k.error().message.find("kbs:///default/key/ctr"), std::string::npos);
  auto lenient = NewProviderUnwrapper(source, /*allow_ctr=*/true);
  k = UnwrapLayerKey(ann, {lenient.get()});
  ASSERT_TRUE(k.ok()) << k.error().message;
  EXPECT_EQ(k->priv.symkey.bytes(), priv.symkey.bytes());
}

TEST(LayerKeys, TooManyEntriesAreRefused) {
  PublicOptions pub;
  pub.hmac = Bytes(32, 3);
  std::map<std::string, std::string> ann;
  ann[kAnnotationPubOpts] = Base64Encode(ToBytes(SerializePublicOptions(pub)));
  std::string many;
  for (int i = 0; i < 65; ++i) many += (i ? "," : "") + Base64Encode(ToBytes("{}"));
  ann[kAnnotationJwe] = many;
  auto u = NewJweUnwrapper({crypto::Key::GenerateEc(crypto::Curve::kP256).value()});
  auto k = UnwrapLayerKey(ann, {u.get()});
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.error().message.find("at most 64"), std::string::npos) << k.error().message;
}

TEST(ProviderPacket, ReadsUpstreamV1AndV2Packets) {
  SecretBytes kek(Bytes(32, 0x42));
  SecretBytes optsdata(ToBytes("{\"symkey\":\"x\"}"));
  auto p = WrapWithKek("kbs:///default/key/key_id1", kek, optsdata).value();
  std::string v1 = SerializeProviderPacket(p);
  EXPECT_EQ(v1.find("{\"kid\":\"kbs:///default/key/key_id1\",\"wrapped_data\":\""), 0u);
  auto back = ParseProviderPacket(ToBytes(v1));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(UnwrapWithKek(*back, kek).value().bytes(), optsdata.bytes());
  std::string v2 = R"({"version":"0.1.0","kid":"kbs:///a/b/c","wrapped_data":")" +
                   Base64Encode(p.wrapped_data) + R"(","provider":"kbs","iv":")" +
                   Base64Encode(p.iv) +
                   R"(","wrap_type":"A256GCM","provider_settings":{},"annotations":{}})";
  auto q = ParseProviderPacket(ToBytes(v2));
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(UnwrapWithKek(*q, kek).value().bytes(), optsdata.bytes());
  EXPECT_FALSE(ParseProviderPacket(ToBytes(R"({"wrapped_data":"AA=="})")).ok());
  EXPECT_FALSE(
      ParseProviderPacket(ToBytes(R"({"kid":"x","wrapped_data":"AA==","version":"9"})")).ok());
}

}  // namespace
}  // namespace coco::ocicrypt
