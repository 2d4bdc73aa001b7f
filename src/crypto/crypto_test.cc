#include "crypto/crypto.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace coco::crypto {
namespace {

Bytes Hex(std::string_view hex) {
  auto r = HexDecode(hex);
  EXPECT_TRUE(r.ok()) << hex;
  return r.ok() ? *r : Bytes();
}

Bytes B64u(std::string_view text) {
  auto r = Base64UrlDecode(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : Bytes();
}

// A P-256 key in the traditional SEC1 "EC PRIVATE KEY" form (generated with `openssl ecparam`).
constexpr char kSec1Pem[] = R"(-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIL7Dwheuzps58z8IOW3tc501TyE8Ug2ytl6E7w/Wq+RuoAoGCCqGSM49
AwEHoUQDQgAEkkDAhBQuZQcJXuOIfDGD5GDIfJ+7Lh+T2NKuuIFOdHzeEsAx17wt
EiLlcmkVPJKBLB2A8KzWEqyGkXjb9hjgIQ==
-----END EC PRIVATE KEY-----
)";
constexpr char kSec1PublicX[] = "9240c084142e6507095ee3887c3183e460c87c9fbb2e1f93d8d2aeb8814e747c";
constexpr char kSec1PublicY[] = "de12c031d7bc2d1222e57269153c92812c1d80f0acd612ac869178dbf618e021";

// The same key as PKCS#8 encrypted with a password: must be refused without prompting.
constexpr char kEncryptedPem[] = R"(-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAihhIzzQ6SMpAICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEA8C0Rl9npo/4+QaR3Jbq1sEgZBk
awAQ/e+3l2DdYOslocbfJSQv6rWIZaSbz5egxlR8r1akoIjU4V04IT1cYZTLzFzU
0lwigwojza6pPOJAUSIZKCaz6cFFayNNDXhQIwT6DiK4lxdqE+e1fW0oXOH79vsZ
0ll5fpNEsMdD9FVcTC5hJ3/DUWyXNU7Zaqe+MSLBcMT7cAWy7e5y7HqSABNyneQ=
-----END ENCRYPTED PRIVATE KEY-----
)";

// A secp256k1 public key: parsable, but not a supported curve.
constexpr char kSecp256k1Pem[] = R"(-----BEGIN PUBLIC KEY-----
MFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEtgFmwG7MtH1TGC1uBrUQEQX4TBdTNma9
Y93DaV+Qcn91RsUua1W9kcsYu9uZed7MvRdYO5+COBBwGL6whdYSSA==
-----END PUBLIC KEY-----
)";

TEST(Hash, KnownAnswers) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha384("abc")),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded163"
            "1a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7");
  EXPECT_EQ(HexEncode(Hash(HashAlg::kSha512, std::string_view("abc"))),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
  EXPECT_EQ(HexEncode(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Hash(HashAlg::kSha256, ToBytes("abc")), Sha256("abc"));
}

TEST(Hmac, Rfc4231TestCase2) {
  auto mac = HmacSha256(ToBytes("Jefe"), "what do ya want for nothing?");
  ASSERT_TRUE(mac.ok()) << mac.error().message;
  EXPECT_EQ(HexEncode(*mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  auto empty = HmacSha256(Bytes(), "");
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_EQ(HexEncode(*empty), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(Random, SizesAndDistinct) {
  EXPECT_TRUE(RandomBytes(0).empty());
  Bytes a = RandomBytes(32), b = RandomBytes(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
}

TEST(Curve, Names) {
  for (Curve c : {Curve::kP256, Curve::kP384, Curve::kP521}) {
    auto back = CurveFromName(CurveName(c));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, c);
  }
  EXPECT_EQ(CurveCoordinateSize(Curve::kP256), 32u);
  EXPECT_EQ(CurveCoordinateSize(Curve::kP384), 48u);
  EXPECT_EQ(CurveCoordinateSize(Curve::kP521), 66u);
  auto bad = CurveFromName("secp256k1");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("secp256k1"), std::string::npos);
}

class EcCurveTest : public ::testing::TestWithParam<Curve> {};

TEST_P(EcCurveTest, GeneratePemAndPointRoundTrip) {
  auto key = Key::GenerateEc(GetParam());
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key->type(), Key::Type::kEc);
  EXPECT_EQ(key->curve(), GetParam());
  EXPECT_TRUE(key->has_private());

  auto point = key->EcPublicPoint();
  ASSERT_TRUE(point.ok()) << point.error().message;
  EXPECT_EQ(point->x.size(), CurveCoordinateSize(GetParam()));
  EXPECT_EQ(point->y.size(), CurveCoordinateSize(GetParam()));

  auto pem = key->PrivatePem();
  ASSERT_TRUE(pem.ok()) << pem.error().message;
  EXPECT_NE(pem->find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
  auto reloaded = Key::FromPem(*pem);
  ASSERT_TRUE(reloaded.ok()) << reloaded.error().message;
  EXPECT_TRUE(reloaded->has_private());
  EXPECT_EQ(reloaded->curve(), GetParam());
  EXPECT_EQ(reloaded->EcPublicPoint()->x, point->x);

  auto pub_pem = key->PublicPem();
  ASSERT_TRUE(pub_pem.ok());
  auto pub = Key::FromPem(*pub_pem);
  ASSERT_TRUE(pub.ok()) << pub.error().message;
  EXPECT_FALSE(pub->has_private());
  EXPECT_FALSE(pub->PrivatePem().ok());

  Key public_only = key->PublicOnly();
  EXPECT_FALSE(public_only.has_private());
  EXPECT_EQ(public_only.EcPublicPoint()->y, point->y);
  EXPECT_FALSE(public_only.PrivatePem().ok());

  auto from_xy = Key::FromEcPublic(GetParam(), point->x, point->y);
  ASSERT_TRUE(from_xy.ok()) << from_xy.error().message;
  EXPECT_FALSE(from_xy->has_private());
  EXPECT_EQ(*from_xy->PublicPem(), *pub_pem);
}

TEST_P(EcCurveTest, SignVerifyAndTamper) {
  auto key = Key::GenerateEc(GetParam());
  ASSERT_TRUE(key.ok());
  auto sig = EcdsaSign(*key, "hello");
  ASSERT_TRUE(sig.ok()) << sig.error().message;
  EXPECT_EQ(sig->size(), 2 * CurveCoordinateSize(GetParam()));
  Key pub = key->PublicOnly();
  EXPECT_TRUE(EcdsaVerify(pub, "hello", *sig).ok());
  EXPECT_FALSE(EcdsaVerify(pub, "hellO", *sig).ok());
  Bytes bad = *sig;
  bad[bad.size() / 3] ^= 0x01;
  EXPECT_FALSE(EcdsaVerify(pub, "hello", bad).ok());
  Bytes short_sig(sig->begin(), sig->end() - 1);
  auto st = EcdsaVerify(pub, "hello", short_sig);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("bytes"), std::string::npos);
  // A public-only key cannot sign.
  EXPECT_FALSE(EcdsaSign(pub, "hello").ok());
  // Another key does not verify.
  auto other = Key::GenerateEc(GetParam());
  EXPECT_FALSE(EcdsaVerify(*other, "hello", *sig).ok());
}

TEST_P(EcCurveTest, EcdhAgrees) {
  auto a = Key::GenerateEc(GetParam());
  auto b = Key::GenerateEc(GetParam());
  ASSERT_TRUE(a.ok() && b.ok());
  auto z1 = EcdhDerive(*a, b->PublicOnly());
  auto z2 = EcdhDerive(*b, a->PublicOnly());
  ASSERT_TRUE(z1.ok()) << z1.error().message;
  ASSERT_TRUE(z2.ok()) << z2.error().message;
  EXPECT_EQ(z1->bytes(), z2->bytes());
  EXPECT_EQ(z1->size(), CurveCoordinateSize(GetParam()));
  EXPECT_FALSE(EcdhDerive(a->PublicOnly(), *b).ok());
}

TEST_P(EcCurveTest, OffCurvePointRefused) {
  auto key = Key::GenerateEc(GetParam());
  ASSERT_TRUE(key.ok());
  auto point = key->EcPublicPoint();
  Bytes y = point->y;
  y.back() ^= 0x01;
  auto bad = Key::FromEcPublic(GetParam(), point->x, y);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("not a"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find(CurveName(GetParam())), std::string::npos);
  // Coordinates longer than the curve size are refused; shorter ones are left-padded.
  Bytes long_x(CurveCoordinateSize(GetParam()) + 1, 0xff);
  EXPECT_FALSE(Key::FromEcPublic(GetParam(), long_x, point->y).ok());
  Bytes padded_x = point->x;
  padded_x.insert(padded_x.begin(), 0x00);
  EXPECT_TRUE(Key::FromEcPublic(GetParam(), padded_x, point->y).ok());
}

INSTANTIATE_TEST_SUITE_P(AllCurves, EcCurveTest,
                         ::testing::Values(Curve::kP256, Curve::kP384, Curve::kP521),
                         [](const ::testing::TestParamInfo<Curve>& info) {
                           std::string n = CurveName(info.param);
                           return n.substr(0, 1) + n.substr(2);
                         });

TEST(Ecdh, DifferentCurvesRefused) {
  auto a = Key::GenerateEc(Curve::kP256);
  auto b = Key::GenerateEc(Curve::kP384);
  auto z = EcdhDerive(*a, b->PublicOnly());
  ASSERT_FALSE(z.ok());
  EXPECT_NE(z.error().message.find("P-384"), std::string::npos) << z.error().message;
  auto ed = Key::GenerateEd25519();
  EXPECT_FALSE(EcdhDerive(*a, *ed).ok());
}

TEST(Ecdsa, Rfc7515AppendixA3KnownSignature) {
  auto key = Key::FromEcPublic(Curve::kP256, B64u("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"),
                               B64u("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"));
  ASSERT_TRUE(key.ok()) << key.error().message;
  std::string input =
      "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxl"
      "LmNvbS9pc19yb290Ijp0cnVlfQ";
  Bytes sig = B64u(
      "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q");
  EXPECT_TRUE(EcdsaVerify(*key, input, sig).ok());
  EXPECT_TRUE(EcdsaVerifyRaw(*key, HashAlg::kSha256, input, sig).ok());
  EXPECT_FALSE(EcdsaVerifyRaw(*key, HashAlg::kSha384, input, sig).ok());
}

TEST(Ecdsa, VerifyRawAcceptsDerAndRaw) {
  auto key = Key::GenerateEc(Curve::kP384);
  ASSERT_TRUE(key.ok());
  auto sig = EcdsaSign(*key, "evidence");  // P-384 → SHA-384
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(EcdsaVerifyRaw(*key, HashAlg::kSha384, "evidence", *sig).ok());
  EXPECT_FALSE(EcdsaVerifyRaw(*key, HashAlg::kSha256, "evidence", *sig).ok());

  // Build the DER form by hand: SEQUENCE { INTEGER r, INTEGER s } (minimal, positive).
  auto der_int = [](Bytes v) {
    while (v.size() > 1 && v[0] == 0 && !(v[1] & 0x80)) v.erase(v.begin());
    if (v[0] & 0x80) v.insert(v.begin(), 0x00);
    Bytes out = {0x02, static_cast<uint8_t>(v.size())};
    out.insert(out.end(), v.begin(), v.end());
    return out;
  };
  Bytes r(sig->begin(), sig->begin() + 48), s(sig->begin() + 48, sig->end());
  Bytes body = der_int(r), s_der = der_int(s);
  body.insert(body.end(), s_der.begin(), s_der.end());
  Bytes der = {0x30, static_cast<uint8_t>(body.size())};
  der.insert(der.end(), body.begin(), body.end());
  EXPECT_TRUE(EcdsaVerifyRaw(*key, HashAlg::kSha384, "evidence", der).ok());
  der.back() ^= 1;
  EXPECT_FALSE(EcdsaVerifyRaw(*key, HashAlg::kSha384, "evidence", der).ok());
  EXPECT_FALSE(EcdsaVerifyRaw(*key, HashAlg::kSha384, "evidence", Bytes{1, 2, 3}).ok());
}

TEST(Ed25519, Rfc8037KnownSignature) {
  auto key = Key::FromEd25519Public(B64u("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"));
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_FALSE(key->has_private());
  std::string input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
  Bytes sig = B64u(
      "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg");
  EXPECT_TRUE(Ed25519Verify(*key, input, sig).ok());
  sig[0] ^= 1;
  EXPECT_FALSE(Ed25519Verify(*key, input, sig).ok());
}

TEST(Ed25519, GenerateSignVerify) {
  auto key = Key::GenerateEd25519();
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key->type(), Key::Type::kEd25519);
  EXPECT_TRUE(key->has_private());
  auto sig = Ed25519Sign(*key, "msg");
  ASSERT_TRUE(sig.ok()) << sig.error().message;
  EXPECT_EQ(sig->size(), 64u);
  auto raw = key->Ed25519PublicRaw();
  ASSERT_TRUE(raw.ok());
  auto pub = Key::FromEd25519Public(*raw);
  ASSERT_TRUE(pub.ok());
  EXPECT_TRUE(Ed25519Verify(*pub, "msg", *sig).ok());
  EXPECT_FALSE(Ed25519Verify(*pub, "msG", *sig).ok());
  EXPECT_FALSE(Ed25519Sign(*pub, "msg").ok());
  EXPECT_FALSE(Key::FromEd25519Public(Bytes(31, 1)).ok());
  auto pem = key->PrivatePem();
  ASSERT_TRUE(pem.ok());
  auto reloaded = Key::FromPem(*pem);
  ASSERT_TRUE(reloaded.ok());
  EXPECT_TRUE(reloaded->has_private());
  EXPECT_FALSE(key->PublicOnly().has_private());
  EXPECT_EQ(*key->PublicOnly().Ed25519PublicRaw(), *raw);
  // Type confusion is refused with a message naming the expected type.
  auto st = EcdsaSign(*key, "msg");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("EC key"), std::string::npos) << st.error().message;
}

TEST(Pem, TraditionalEncryptedAndUnsupported) {
  auto key = Key::FromPem(kSec1Pem);
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_TRUE(key->has_private());
  EXPECT_EQ(key->curve(), Curve::kP256);
  EXPECT_EQ(HexEncode(key->EcPublicPoint()->x), kSec1PublicX);
  EXPECT_EQ(HexEncode(key->EcPublicPoint()->y), kSec1PublicY);

  auto enc = Key::FromPem(kEncryptedPem);
  ASSERT_FALSE(enc.ok());
  EXPECT_NE(enc.error().message.find("encrypted"), std::string::npos) << enc.error().message;

  auto k1 = Key::FromPem(kSecp256k1Pem);
  ASSERT_FALSE(k1.ok());
  EXPECT_NE(k1.error().message.find("secp256k1"), std::string::npos) << k1.error().message;

  EXPECT_FALSE(Key::FromPem("not a pem").ok());
  EXPECT_FALSE(Key::FromPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").ok());
}

class RsaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto k = Key::GenerateRsa(2048);
    ASSERT_TRUE(k.ok()) << k.error().message;
    key_ = new Key(*k);
  }
  static void TearDownTestSuite() {
    delete key_;
    key_ = nullptr;
  }
  static Key* key_;
};
Key* RsaTest::key_ = nullptr;

TEST_F(RsaTest, ParamsAndPem) {
  EXPECT_EQ(key_->type(), Key::Type::kRsa);
  EXPECT_TRUE(key_->has_private());
  auto params = key_->RsaPublicParams();
  ASSERT_TRUE(params.ok());
  EXPECT_EQ(params->n.size(), 256u);
  EXPECT_EQ(HexEncode(params->e), "010001");
  auto pub = Key::FromRsaPublic(params->n, params->e);
  ASSERT_TRUE(pub.ok()) << pub.error().message;
  EXPECT_FALSE(pub->has_private());
  EXPECT_EQ(*pub->PublicPem(), *key_->PublicPem());
  auto reloaded = Key::FromPem(*key_->PrivatePem());
  ASSERT_TRUE(reloaded.ok());
  EXPECT_TRUE(reloaded->has_private());
  // Even modulus and short modulus are refused.
  Bytes even = params->n;
  even.back() &= 0xfe;
  EXPECT_FALSE(Key::FromRsaPublic(even, params->e).ok());
  Bytes short_n(params->n.begin(), params->n.begin() + 128);
  EXPECT_FALSE(Key::FromRsaPublic(short_n, params->e).ok());
  EXPECT_FALSE(Key::GenerateRsa(1024).ok());
}

TEST_F(RsaTest, OaepRoundTrips) {
  Bytes cek = RandomBytes(32);
  Key pub = key_->PublicOnly();
  for (bool sha1 : {false, true}) {
    auto ct = RsaOaepEncrypt(pub, cek, sha1);
    ASSERT_TRUE(ct.ok()) << ct.error().message;
    EXPECT_EQ(ct->size(), 256u);
    auto pt = RsaOaepDecrypt(*key_, *ct, sha1);
    ASSERT_TRUE(pt.ok()) << pt.error().message;
    EXPECT_EQ(pt->bytes(), cek);
    // Wrong hash or flipped byte fails.
    EXPECT_FALSE(RsaOaepDecrypt(*key_, *ct, !sha1).ok());
    Bytes bad = *ct;
    bad[10] ^= 0x40;
    EXPECT_FALSE(RsaOaepDecrypt(*key_, bad, sha1).ok());
  }
  EXPECT_FALSE(RsaOaepDecrypt(pub, Bytes(256, 1)).ok());
}

TEST(AesGcm, GcmSpecTestCase16) {
  // "The Galois/Counter Mode of Operation", test case 16 (AES-256, 96-bit IV, with AAD).
  Bytes key = Hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
  Bytes iv = Hex("cafebabefacedbaddecaf888");
  Bytes pt =
      Hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
          "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
  std::string aad = ToString(Hex("feedfacedeadbeeffeedfacedeadbeefabaddad2"));
  auto sealed = AesGcmEncrypt(key, iv, aad, pt);
  ASSERT_TRUE(sealed.ok()) << sealed.error().message;
  EXPECT_EQ(HexEncode(sealed->ciphertext),
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
            "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662");
  EXPECT_EQ(HexEncode(sealed->tag), "76fc6ece0f4e1768cddf8853bb2d551b");
  auto opened = AesGcmDecrypt(key, iv, aad, sealed->ciphertext, sealed->tag);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ(opened->bytes(), pt);
}

TEST(AesGcm, TamperAndArgumentChecks) {
  for (size_t key_size : {16u, 24u, 32u}) {
    Bytes key = RandomBytes(key_size), iv = RandomBytes(12), pt = ToBytes("secret resource");
    auto sealed = AesGcmEncrypt(key, iv, "aad", pt);
    ASSERT_TRUE(sealed.ok());
    EXPECT_EQ(sealed->tag.size(), 16u);
    EXPECT_EQ(AesGcmDecrypt(key, iv, "aad", sealed->ciphertext, sealed->tag)->bytes(), pt);
    Bytes ct = sealed->ciphertext;
    ct[0] ^= 1;
    EXPECT_FALSE(AesGcmDecrypt(key, iv, "aad", ct, sealed->tag).ok());
    Bytes tag = sealed->tag;
    tag[15] ^= 1;
    auto bad_tag = AesGcmDecrypt(key, iv, "aad", sealed->ciphertext, tag);
    ASSERT_FALSE(bad_tag.ok());
    EXPECT_NE(bad_tag.error().message.find("authentication"), std::string::npos);
    EXPECT_FALSE(AesGcmDecrypt(key, iv, "aaD", sealed->ciphertext, sealed->tag).ok());
    Bytes iv2 = iv;
    iv2[0] ^= 1;
    EXPECT_FALSE(AesGcmDecrypt(key, iv2, "aad", sealed->ciphertext, sealed->tag).ok());
    Bytes short_tag(sealed->tag.begin(), sealed->tag.begin() + 12);
    EXPECT_FALSE(AesGcmDecrypt(key, iv, "aad", sealed->ciphertext, short_tag).ok());
  }
  // Empty plaintext and AAD work.
  Bytes key = RandomBytes(32), iv = RandomBytes(12);
  auto sealed = AesGcmEncrypt(key, iv, "", Bytes());
  ASSERT_TRUE(sealed.ok());
  EXPECT_TRUE(sealed->ciphertext.empty());
  EXPECT_TRUE(AesGcmDecrypt(key, iv, "", Bytes(), sealed->tag).ok());
  EXPECT_FALSE(AesGcmEncrypt(RandomBytes(20), iv, "", Bytes()).ok());
  EXPECT_FALSE(AesGcmEncrypt(key, RandomBytes(16), "", Bytes()).ok());
}

TEST(AesKeyWrap, Rfc3394Vectors) {
  // §4.1: 128-bit KEK, 128-bit key data.
  auto w1 =
      AesKeyWrap(Hex("000102030405060708090A0B0C0D0E0F"), Hex("00112233445566778899AABBCCDDEEFF"));
  ASSERT_TRUE(w1.ok()) << w1.error().message;
  EXPECT_EQ(HexEncode(*w1), "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5");
  // §4.6: 256-bit KEK, 256-bit key data.
  Bytes kek = Hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
  Bytes data = Hex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F");
  Bytes expected =
      Hex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21");
  auto wrapped = AesKeyWrap(kek, data);
  ASSERT_TRUE(wrapped.ok()) << wrapped.error().message;
  EXPECT_EQ(*wrapped, expected);
  auto unwrapped = AesKeyUnwrap(kek, expected);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.error().message;
  EXPECT_EQ(unwrapped->bytes(), data);

  Bytes tampered = expected;
  tampered[5] ^= 0x80;
  auto bad = AesKeyUnwrap(kek, tampered);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("integrity"), std::string::npos);
  Bytes wrong_kek = kek;
  wrong_kek[0] ^= 1;
  EXPECT_FALSE(AesKeyUnwrap(wrong_kek, expected).ok());
  EXPECT_FALSE(AesKeyWrap(Bytes(20, 0), data).ok());
  EXPECT_FALSE(AesKeyWrap(kek, Bytes(12, 0)).ok());
  EXPECT_FALSE(AesKeyUnwrap(kek, Bytes(20, 0)).ok());
}

TEST(Key, SharedAcrossThreads) {
  auto key = Key::GenerateEc(Curve::kP256);
  ASSERT_TRUE(key.ok());
  const Key& k = *key;
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&k, &ok, t] {
      for (int i = 0; i < 20; ++i) {
        std::string msg = "m" + std::to_string(t * 100 + i);
        auto sig = EcdsaSign(k, msg);
        if (sig.ok() && EcdsaVerify(k, msg, *sig).ok()) ++ok[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int v : ok) EXPECT_EQ(v, 20);
}

}  // namespace
}  // namespace coco::crypto

namespace coco::crypto {
namespace {

TEST(HasherTest, IncrementalEqualsOneShot) {
  std::string data(100000, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  Hasher h(HashAlg::kSha256);
  h.Update(std::string_view(data).substr(0, 1));
  h.Update(std::string_view(data).substr(1, 4095));
  h.Update(std::string_view(data).substr(4096));
  EXPECT_EQ(h.Finish(), Sha256(data));
  Hasher e(HashAlg::kSha384);
  EXPECT_EQ(HexEncode(e.Finish()).substr(0, 16), "38b060a751ac9638");  // SHA-384("")
}

}  // namespace
}  // namespace coco::crypto
