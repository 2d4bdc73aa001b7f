#include "jose/jwe.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "jose/jwk.h"

namespace coco::jose {
namespace {

using Json = nlohmann::json;
using crypto::Curve;
using crypto::Key;

// ---- Fixtures produced by python3-jwcrypto 1.1 (Debian bookworm) --------------------------
// Generated once with this script (jwcrypto puts "epk" in the per-recipient "header"):
//
//   from jwcrypto import jwk, jwe
//   from jwcrypto.common import json_encode, base64url_encode
//   cases = [
//     ("ec256", jwk.JWK.generate(kty="EC", crv="P-256"),
//      {"alg": "ECDH-ES+A256KW", "enc": "A256GCM"}, None, {}),
//     ("ec384", jwk.JWK.generate(kty="EC", crv="P-384"),
//      {"alg": "ECDH-ES+A128KW", "enc": "A128GCM", "apu": base64url_encode(b"Alice"),
//       "apv": base64url_encode(b"Bob")}, None, {}),
//     ("ec521", jwk.JWK.generate(kty="EC", crv="P-521"),
//      {"alg": "ECDH-ES+A192KW", "enc": "A256GCM"}, None, {"kid": "k1"}),
//     ("rsa256", jwk.JWK.generate(kty="RSA", size=2048),
//      {"alg": "RSA-OAEP-256", "enc": "A256GCM"}, None, {}),
//     ("rsa1", jwk.JWK.generate(kty="RSA", size=2048),
//      {"alg": "RSA-OAEP", "enc": "A128GCM"}, b"extra-aad", {}),
//   ]
//   for name, key, prot, aad, unprot in cases:
//     kw = {"unprotected": json_encode(unprot)} if unprot else {}
//     e = jwe.JWE(("jwcrypto says hello to " + name).encode(), protected=json_encode(prot),
//                 aad=aad, **kw)
//     e.add_recipient(key)
//     print(e.serialize(), key.export_to_pem(private_key=True, password=None).decode())
//
// kRfc7518BobPem is Bob's key of RFC 7518 Appendix C, exported to PKCS#8 by jwcrypto.

constexpr char kJwcryptoEc256Jwe[] =
    R"({"ciphertext":"WiRuxSTBNdB0skOyq93trdl1VwpBucmxCwCdxg","encrypted_key":"dFWIFXXn6gOao4C7bs)"
    R"(kviyS6nNBp7cIyPFTdvZRxZvuvqnsnHooYMQ","header":{"epk":{"crv":"P-256","kty":"EC","x":"HBW76)"
    R"(1Q4nUCuXH1oXiUPdPjXrzgbmItrOslxXi97Pq0","y":"vM88c40oU_su_BWQioSFxmg6mW1t_QBMbirOTLPMNWA"})"
    R"(},"iv":"k0Cm6VXPEoDqqhJt","protected":"eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZHQ00)"
    R"(ifQ","tag":"kMBK5_nlLPPkqkfn4G9B7Q"})";
constexpr char kJwcryptoEc256Pem[] = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAc1ZD0zzqjiyJdBU
3lQ34w9JFu7XT8Y84RMPM7qcBr2hRANCAARaRwODUv4SqxY0Nwm/9DuS2AvBLrQp
pNlHJ3cq+ySzW52RK+9oldwL033loq3LH3YKfVZsh7MwC4/hxoCGtTVo
-----END PRIVATE KEY-----
)";
constexpr char kJwcryptoEc256Plaintext[] = "jwcrypto says hello to ec256";

constexpr char kJwcryptoEc384Jwe[] =
    R"({"ciphertext":"FzB4roiRtO0e7OmJe4gCTTJMObwEfjr7wuoB9A","encrypted_key":"TgHm3JTXbxWpTcIXDN)"
    R"(nW2d4rfHakGrcy","header":{"epk":{"crv":"P-384","kty":"EC","x":"qcCFl6mi72YABQrsUaPsShUSSs9)"
    R"(6Zja0wmyEQjTP2OWmvMDnZiPcxR7CHJG90qem","y":"fMwy9eTaW7BlEPyNYC5FvW2H_uYDVuo3mAtCBwNyShuWR1)"
    R"(JApfJYCQNCVjhTySHe"}},"iv":"NpJ-Q6TLVh-uBo_P","protected":"eyJhbGciOiJFQ0RILUVTK0ExMjhLVyI)"
    R"(sImFwdSI6IlFXeHBZMlUiLCJhcHYiOiJRbTlpIiwiZW5jIjoiQTEyOEdDTSJ9","tag":"yA1EMKQvay6TMcKSg1pF)"
    R"(YQ"})";
constexpr char kJwcryptoEc384Pem[] = R"(-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDDsGx0IA80/GpmSZ0KB
1ztuFr1koCcAnQ1KadaoQPtn9gdWIEWpjoVcRcj2oY12QPqhZANiAAR/WXzdTrM9
jjt6F7TAndsDRKD3noHaQYRqApMYqs95+sZk5mGXnJK2pH/icQm6EPSyA2+qwfyw
VtQ0Zxg7hrih/Plh5pFCu01kQm7qo1S5LQT3PEvXYoOQEShk7IOpv50=
-----END PRIVATE KEY-----
)";
constexpr char kJwcryptoEc384Plaintext[] = "jwcrypto says hello to ec384";

constexpr char kJwcryptoEc521Jwe[] =
    R"({"ciphertext":"y0dv2cBdmyakmTIDgtewTGjqdC5E0yxskLUOLw","encrypted_key":"cXQfGi61IeMcUqoO4x)"
    R"(1IS-fRnfRvQdXG_TIQ9VPAcnb4NTlTxquhTw","header":{"epk":{"crv":"P-521","kty":"EC","x":"ANNRI)"
    R"(Ecoi9HVokQzoUJINdpl5_R6Jg9cNAufbBmwoiw7qFy9zs_x9XM2zMYgPh6hKtD9kf02P-ll8jYlJheUuSXH","y":")"
    R"(AOIYxq6SyL4eyusmNL3MZ0Y4dZfHVVWwR7VLvjnGcHv0-0xGzPrjZEAClNl9-Du241xAecU4syJ57podj1ssiaWG"})"
    R"(},"iv":"AumCaRtVmEEm8LiI","protected":"eyJhbGciOiJFQ0RILUVTK0ExOTJLVyIsImVuYyI6IkEyNTZHQ00)"
    R"(ifQ","tag":"BvMWSzpHCV_Gcn2OTPNDkg","unprotected":{"kid":"k1"}})";
constexpr char kJwcryptoEc521Pem[] = R"(-----BEGIN PRIVATE KEY-----
MIHuAgEAMBAGByqGSM49AgEGBSuBBAAjBIHWMIHTAgEBBEIA3pOvhCXljRuNK0xp
ge/4NWVExChJIXRI7IAW7DGcwb3Av5m/saUcCVkruzkeJFhtPvInCX2L8fH1foY3
LQbEquehgYkDgYYABAAUQFt/hfjuxRfqlFA6vlfueJu+FO4XnZc3NnvWFCUc6WNc
cOJkHEGLANcELdKGdZfycjJffZ/8LZXELpfP8x9LFwBKxnFrSekfqhLXKWrZ7ZQI
Yy5DKTIo96iXjrJ3OsfgSbKz+L8SuFg2dC92El/ZNYKC+U3OYw/C+VqOrv1Atc0G
JA==
-----END PRIVATE KEY-----
)";
constexpr char kJwcryptoEc521Plaintext[] = "jwcrypto says hello to ec521";

constexpr char kJwcryptoRsaOaep256Jwe[] =
    R"({"ciphertext":"R7cLR6b6_GNqKURNHveZQUVx-CSh2gRVzr5MtHQ","encrypted_key":"P6KDFI9kKPfU7UBF3)"
    R"(HDB7-BVy_hh8WpSpkoUoXQxsOOHGUFMwJdQj9PEsmMr6Kk5dQsiiZUWwXsluUbxC3zFYPdwfm2dgn3x-InOuJn9XNK)"
    R"(8Pw3vEMTVr6_8Mj-InsLqxA5zqCl8WJHlc-vaToN71YteOcXXd_NfwBlvzBGGlylks_6SPTNxYRlorLCNUwV8sJPmq)"
    R"(70w--_R4Q8Wi-VE9DAUL-UXCEbWDJDcPC7XQljPo4POr1l1-y-rGbkO4MEMrjAPL0S_TzTv2UtSghVRcgop0Cgxvs3)"
    R"(59wqH6YkuIlBBMLcrHbZzlOLFLksXZTuzq1HaD9sKhT7BMN3Tha6hng","iv":"c6qSjpjuIMlJvNcw","protecte)"
    R"(d":"eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0","tag":"5iU977oxW2Jv5jmqPIWygQ"})";
constexpr char kJwcryptoRsaOaep256Pem[] = R"(-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCqdOljU69XzwoB
duHo/HchW4NMsM/QOSjoE7vIJGTgi3dDbKVvI2LAXsCRqx0IPjHbNDWqgLDDgh9c
c/kN1Vaw/2FzRYYkgIxsfcYCZj6shWJ/BTTAbzxX9qGSuNG7/agCCD7msokJ9gFk
fs1va9j64LpkXmEjybmhqem5SjAI8xIM4Epp2zcgULxVdfZzjW7UgUlwJbfE9tga
UpVOGTzMYaSepgTE9SJx09St90pODLN31TTeJgF9VoLQCRefjwa3geyRynyb8W6e
nAs+N3m538Zis5S+5D1lFO/es1AjejhLRWFON22hz2W2anM4VWM1hiMNSdtLKP+a
/Zl43kOLAgMBAAECggEATvZ0zXINZrB+8pm3Yl5d84J4qxS3WD66b/QAR+FwJ8MD
vyS76GWsj+/05iYt/00MfH7No4wVFqSXUZVZ2OoszDap1qPs1ckFBBcpnJ/vxazO
qYfoXYLKIfea9qSOaDdD1pkqRmWLbSVclMjW8xgzPljPj8JW3qTKzRSwtIilAueQ
IhifW2x7+3nIRxicOWj8mzktkpQW0Mq6EiZzH5UlkMZvgkl20zdIaB9YjFqiUdco
pepbUbly7ZwDjiNqCSkpZqh6JhmvY/15HXU7Y0QkpQev1H3DXGwx6sjIZzNXd+QZ
YVW1mj3FuN3Pcbr5zZRSt8/hK2VcfNPu9kFP7QN68QKBgQDtcdrVHCPgBXVEFDGb
EapdKwJ6GjOV36uIiEIC+1Ltgu77Jvzwc1rZguR6BOd2278BEUS0ApPeYJTTOWfZ
yoCT9X1uIkeXiQtvcXYVnzPxUO/CXMuRX0Pf6Aw+bgB+H/zbp77oF6vUXcINeo9z
DqWYEl6I8ACP1NQmJzEW8BvnGwKBgQC3xvFk3DgMGIlD9Xysap3pVTmS+apt6es/
RaFOJNEAJ58scs7TV55Ceq5eiZ3E9tnNuqN3MHxlvmds4RmPc7ISciGPxY9ahX15
NpTBvL//2g7f9f1UzGCNDhwZNDDJ802oe8h9igwNX36moOEQK8sv/7z/OlOr84fN
pC5W+oysUQKBgQCG1u4/sXBKCq9yTslw11JZAFCyyGhdBxzhNwfNq62HRaCzLYvc
fJWuCd/3zwsm+1l3oLfURdZ1JYG+hc4M5yunWnS1c3AWhPPigJtfYf5cXusZBBty
XZgs8hjp5wwOk9nDX3pRUQf6XJgTkXMfEsVFG8FloG2hQGqNlBoTfZ1K2wKBgBSd
xMbDzaXNuthc2bed3kkmvma2i1/5NeLLNOVHTArwZvLdjkY3NhHPIXCJj6Fg794c
aeodDld7nK6iMfPdzsQy+YDfcM1+3CyU6usw+XkCRVjqh5jTtKEeTBinujFtkfCs
sjkjG2cEp3iZ46WkxA6GafVX3bsUfs+a83fec5mBAoGBAJTAVzoENSZB79uF15BE
d2R+EvTvQIX886H52Qlb1GQg3Fw0UUAhSeZ8VBsFbKG9TOvlw9o0ntV+kE0q+bid
muFtZlXia596FfN8M/n32wSANeUfunVM29LsdpYhwFls6kQGeMsEq+lLBoAZym4r
KP3VjXy9jzUPjkeIuTJtHumw
-----END PRIVATE KEY-----
)";
constexpr char kJwcryptoRsaOaep256Plaintext[] = "jwcrypto says hello to rsa256";

constexpr char kJwcryptoRsaOaepJwe[] =
    R"({"aad":"ZXh0cmEtYWFk","ciphertext":"jVujF1AkjnxSCh_9x2DiaNUxWS1jP5lCBWne","encrypted_key":)"
    R"("GUNQfhLtts1gRfF4EM1sTW8pJOIkWsjA6nmgBM4o_52R90IK0SZ1iw2z7_P-Sk3U8aCCSdCUPsG-T_URunG4V1AUm)"
    R"(EdhAQjbqWKS1zAcD0lfvAD7upiCE8k7qIoAqTCB58r8bN_5KhtFfc2h9i7m6d9d_p5R9I9Udi2a2qsTGbzgkw6rse0)"
    R"(lpdYGIGpvBX3KTeJQsanmgmTgMf2F1y4ZovaYggyj0gt2d5Lbu2pXjsrFlCTLj8B_gl04SH4Fnl__sR8NRqdNv2wmE)"
    R"(-AmHoOrJUj4qgQv2GKKOPhzZ09QVcIeDYRAhiV1escE6DIsIhbvVClvGAReDSaWymp4uUfNiA","iv":"aRE2NlyEt)"
    R"(gofDvsg","protected":"eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkExMjhHQ00ifQ","tag":"5bFIXnULvdybN)"
    R"(_A6EKFWSQ"})";
constexpr char kJwcryptoRsaOaepPem[] = R"(-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCkLttybpDGFNZj
Py6Nw01tXbcDJtkk0o6Pc5XgmLO6DXMxSmsBHWhuu3zkLTMfOiXZ9k/joHdmPaVQ
HIYJTrZXgclKyP6ZBgYS8S6DdFoM/t6Qig8e76Ldfr5SLt9bp6E5YZNYSrw67jST
QGsw3l+o2a4DbWT6e7huOLyMUl+uRslbZ5Ptpx2vfSxwxCg5ow6UaufJgSq1agNM
oHez0dKtA0fL2LuPsLkfyhiiyeXPDwQTNJ1tiOfyOmBUa99nDepchq5+XdtSyQGi
t+XlaOq5vsOaa1L9G0nW6sSpBionbtnp4Iv2W4h0JZKOKyJazKW0G7BiBzwY+33a
g409ArqFAgMBAAECggEAATxWC/wvjEIbY/dVhR0fb8+JAVXRRBDuoD9FNUHI9oFD
6O7Ps9wyDUVNeRUrAZTpNIUBUGwEggk8PYhdbOQCBNIV/wFYwzOTp6BXkoc1Z0wi
xjE30GqKzgJ2cb1nEnRGRx2II526YXIqBKKzO9SsoSN0RxPTcvwr5O554s9651+f
bMGWpNNbPj/WgYimnKTWxxKbu4sJ8LMNibj4V2BPIz9MwKCBiMABc3YJ2O8w8W5U
CDXJFTkHmRxyEPuB5ma7w7BoVLMLxxSrMkXARZARm86zR95Mor939oKazJknxKsw
opf4odpvdLguJEp4ddKi+PURofT989yVLPiufkebgQKBgQDX69pguHI+oYu+8uD5
KBSzw2qsMzIbQ/2bGstNtC3b2QIbPbhhXCXKfgqWjdiXVb4WaazbKQ2styIHv4Mb
7rff3qKQBbuE1uIRCU9xBox9OuRnAewJG/pJVVeIeIemHC+MRaAQhxl8pZ0XpsMo
O3FZhgMb6haosuEtfWfIfpy9gQKBgQDCqIFxyvCWFEJCnEw1A5GCb78RmUgxL0Dy
XfGtIKYpqVlGiyNAxFMqE0lGJpGdCjzWBwvS3xY/cIe16RRrzimUdTz9Ec4Td2N8
wvSx81CYoychAQkVLPq+3OKcv8N7s46NuLKL39jqo8YvJNmjjj54Hfw/Vodk5NoR
RrxKJgSHBQKBgE0pH7UItOrk2Ae4y+S+Cgfjga9f7DwKJArVnGl8RhcWicYqXEWO
pIKkYCxFLG2IWpGv2fHHzfc2ypZyPewxdswtx3IoWkayc78a0KTXbkUiUpTs/uiS
cvLZ6JoAWJln4SYDi5vca6M7m9Pj6EHsXCld1qaXFNncctPKyNfBR0oBAoGAYDnG
S4dDqRz4qE71SRureaxd6og4bL/sPiN8jdXe7ideD4ZGdgTXC6yfA0ObpeLisfan
vKU1LUUmgSFoS+aNHWtbK8r6cRsKnikNp04dYGb+t8z4PXSPu3wbtdsB+ouHg71y
3bxZUZyGItX3lGeDsAM6p+DRa2nJ9tJdz9W9VTUCgYBf0RmLSiX4SnzsQGKkEOaK
cxSKgXdWadnW/lA/3Xv2COlvLDqtOQ7gdiIJH+64Tylz9H+GoFAwKuTOVY9IuaiC
stfZyZ188hanXoy2UD2nMDxMVN0AdcblCqR089S+sJjKyd/gP1AUtcn6F3tv41/F
zbyYeO8UgprZDuAZw3DT2A==
-----END PRIVATE KEY-----
)";
constexpr char kJwcryptoRsaOaepPlaintext[] = "jwcrypto says hello to rsa1";

constexpr char kRfc7518BobPem[] = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgVEmDZpDXXK8p8N0C
ndsxs924q6nS1RXFASRl6BfUqdyhRANCAATB40nLYexwJIzoAQNMODThuI6+EWHL
Ja84dB94X8/ExHvJZwjvgJUrU/jSVV/nK4Qe0EWIYosdN4pZSTlQDsnJ
-----END PRIVATE KEY-----
)";

// ---- Helpers --------------------------------------------------------------------------------

std::string DecodeB64uString(const std::string& s) {
  auto r = Base64UrlDecode(s);
  EXPECT_TRUE(r.ok()) << s;
  return r.ok() ? ToString(*r) : "";
}

// Flips one bit of the decoded bytes of a base64url member.
void FlipMemberBit(Json* jwe, const char* member, size_t index = 0) {
  auto bytes = Base64UrlDecode((*jwe)[member].get<std::string>());
  ASSERT_TRUE(bytes.ok());
  ASSERT_LT(index, bytes->size());
  (*bytes)[index] ^= 0x01;
  (*jwe)[member] = Base64UrlEncode(*bytes);
}

Key MustKey(Result<Key> r) {
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return std::move(r).value();
}

std::string Plain(const Result<SecretBytes>& r) {
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? ToString(r->bytes()) : "";
}

void ExpectErrorMentions(const Result<SecretBytes>& r, const std::string& needle) {
  ASSERT_FALSE(r.ok()) << "expected an error mentioning " << needle;
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
}

// ---- Concat KDF -----------------------------------------------------------------------------

TEST(ConcatKdf, Rfc7518AppendixC) {
  // Bob's static key and Alice's ephemeral public key from RFC 7518 Appendix C.
  Key bob = MustKey(Key::FromPem(kRfc7518BobPem));
  ASSERT_EQ(bob.curve(), Curve::kP256);
  Key alice = MustKey(Key::FromEcPublic(
      Curve::kP256, *Base64UrlDecode("gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0"),
      *Base64UrlDecode("SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps")));
  auto z = crypto::EcdhDerive(bob, alice);
  ASSERT_TRUE(z.ok()) << z.error().message;
  const Bytes expected_z = {158, 86,  217, 29,  129, 113, 53,  211, 114, 131, 66,
                            131, 191, 132, 38,  156, 251, 49,  110, 163, 218, 128,
                            106, 72,  246, 218, 167, 121, 140, 254, 144, 196};
  EXPECT_EQ(z->bytes(), expected_z);
  SecretBytes key = ConcatKdf(expected_z, "A128GCM", ToBytes("Alice"), ToBytes("Bob"), 128);
  EXPECT_EQ(Base64UrlEncode(key.bytes()), "VqqN6vgjbSBcIijNcacQGg");
}

TEST(ConcatKdf, LengthsAndInputsMatter) {
  Bytes z(32, 7);
  SecretBytes k256 = ConcatKdf(z, "ECDH-ES+A256KW", {}, {}, 256);
  SecretBytes k512 = ConcatKdf(z, "ECDH-ES+A256KW", {}, {}, 512);
  EXPECT_EQ(k256.size(), 32u);
  EXPECT_EQ(k512.size(), 64u);
  // SuppPubInfo carries the length, so a longer output is not an extension of a shorter one.
  EXPECT_NE(Bytes(k512.bytes().begin(), k512.bytes().begin() + 32), k256.bytes());
  EXPECT_NE(ConcatKdf(z, "ECDH-ES+A128KW", {}, {}, 256).bytes(), k256.bytes());
  EXPECT_NE(ConcatKdf(z, "ECDH-ES+A256KW", ToBytes("u"), {}, 256).bytes(), k256.bytes());
  EXPECT_NE(ConcatKdf(z, "ECDH-ES+A256KW", {}, ToBytes("v"), 256).bytes(), k256.bytes());
  EXPECT_EQ(ConcatKdf(z, "ECDH-ES+A256KW", {}, {}, 192).size(), 24u);
}

// ---- Round trips ----------------------------------------------------------------------------

class JweEcTest : public ::testing::TestWithParam<Curve> {};

TEST_P(JweEcTest, RoundTripAndHeaderForm) {
  Key key = MustKey(Key::GenerateEc(GetParam()));
  auto jwk = PublicJwk(key);
  ASSERT_TRUE(jwk.ok());
  Bytes secret = ToBytes("top secret resource for " + crypto::CurveName(GetParam()));
  auto jwe = JweEncrypt(*jwk, secret);
  ASSERT_TRUE(jwe.ok()) << jwe.error().message;

  std::set<std::string> members;
  for (auto it = jwe->begin(); it != jwe->end(); ++it) members.insert(it.key());
  EXPECT_EQ(members,
            (std::set<std::string>{"protected", "encrypted_key", "iv", "ciphertext", "tag"}));
  EXPECT_EQ(Base64UrlDecode((*jwe)["iv"].get<std::string>())->size(), 12u);
  EXPECT_EQ(Base64UrlDecode((*jwe)["tag"].get<std::string>())->size(), 16u);
  EXPECT_EQ(Base64UrlDecode((*jwe)["encrypted_key"].get<std::string>())->size(), 40u);
  EXPECT_EQ(Base64UrlDecode((*jwe)["ciphertext"].get<std::string>())->size(), secret.size());

  // The protected header is exactly alg, enc, epk{crv,kty,x,y}, compact.
  std::string header = DecodeB64uString((*jwe)["protected"].get<std::string>());
  Json parsed = Json::parse(header);
  const Json& epk = parsed["epk"];
  std::string expected = R"({"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":{"crv":")" +
                         crypto::CurveName(GetParam()) + R"(","kty":"EC","x":")" +
                         epk["x"].get<std::string>() + R"(","y":")" + epk["y"].get<std::string>() +
                         R"("}})";
  EXPECT_EQ(header, expected);
  size_t coord = crypto::CurveCoordinateSize(GetParam());
  EXPECT_EQ(Base64UrlDecode(epk["x"].get<std::string>())->size(), coord);
  EXPECT_EQ(Base64UrlDecode(epk["y"].get<std::string>())->size(), coord);

  EXPECT_EQ(Plain(JweDecrypt(*jwe, key)), ToString(secret));

  // A fresh ephemeral key and IV each time.
  auto again = JweEncrypt(*jwk, secret);
  ASSERT_TRUE(again.ok());
  EXPECT_NE((*again)["protected"], (*jwe)["protected"]);
  EXPECT_NE((*again)["iv"], (*jwe)["iv"]);
}

TEST_P(JweEcTest, TamperingFails) {
  Key key = MustKey(Key::GenerateEc(GetParam()));
  auto jwe = JweEncrypt(*PublicJwk(key), ToBytes("payload"));
  ASSERT_TRUE(jwe.ok());
  ASSERT_TRUE(JweDecrypt(*jwe, key).ok());

  for (const char* member : {"ciphertext", "tag", "iv", "encrypted_key"}) {
    Json bad = *jwe;
    FlipMemberBit(&bad, member, 3);
    EXPECT_FALSE(JweDecrypt(bad, key).ok()) << member;
  }
  // The same header re-serialized with a space: same meaning, different AAD.
  {
    Json bad = *jwe;
    std::string header = DecodeB64uString(bad["protected"].get<std::string>());
    bad["protected"] = Base64UrlEncode("{ " + header.substr(1));
    ExpectErrorMentions(JweDecrypt(bad, key), "authentication");
  }
  // Adding an "aad" member changes the AAD too.
  {
    Json bad = *jwe;
    bad["aad"] = "eHl6";
    EXPECT_FALSE(JweDecrypt(bad, key).ok());
  }
  // Another key of the same curve cannot unwrap.
  Key other = MustKey(Key::GenerateEc(GetParam()));
  ExpectErrorMentions(JweDecrypt(*jwe, other), "encrypted_key");
}

INSTANTIATE_TEST_SUITE_P(AllCurves, JweEcTest,
                         ::testing::Values(Curve::kP256, Curve::kP384, Curve::kP521),
                         [](const ::testing::TestParamInfo<Curve>& info) {
                           std::string n = crypto::CurveName(info.param);
                           return n.substr(0, 1) + n.substr(2);
                         });

class JweRsaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { key_ = new Key(MustKey(Key::GenerateRsa(2048))); }
  static void TearDownTestSuite() {
    delete key_;
    key_ = nullptr;
  }
  static Key* key_;
};
Key* JweRsaTest::key_ = nullptr;

TEST_F(JweRsaTest, RoundTripHeaderAndTamper) {
  auto jwk = PublicJwk(*key_);
  ASSERT_TRUE(jwk.ok());
  auto jwe = JweEncrypt(*jwk, ToBytes("rsa secret"));
  ASSERT_TRUE(jwe.ok()) << jwe.error().message;
  EXPECT_EQ(DecodeB64uString((*jwe)["protected"].get<std::string>()),
            R"({"alg":"RSA-OAEP-256","enc":"A256GCM"})");
  EXPECT_EQ(Base64UrlDecode((*jwe)["encrypted_key"].get<std::string>())->size(), 256u);
  EXPECT_EQ(Plain(JweDecrypt(*jwe, *key_)), "rsa secret");

  // Explicit alg in the JWK gives the same form.
  Json with_alg = *jwk;
  with_alg["alg"] = "RSA-OAEP-256";
  auto jwe2 = JweEncrypt(with_alg, ToBytes("rsa secret 2"));
  ASSERT_TRUE(jwe2.ok());
  EXPECT_EQ(Plain(JweDecrypt(*jwe2, *key_)), "rsa secret 2");

  for (const char* member : {"ciphertext", "tag", "encrypted_key"}) {
    Json bad = *jwe;
    FlipMemberBit(&bad, member, 5);
    EXPECT_FALSE(JweDecrypt(bad, *key_).ok()) << member;
  }
  Json bad = *jwe;
  std::string p = bad["protected"].get<std::string>();
  bad["protected"] = Base64UrlEncode(R"({"enc":"A256GCM","alg":"RSA-OAEP-256"})");
  ASSERT_NE(bad["protected"].get<std::string>(), p);
  ExpectErrorMentions(JweDecrypt(bad, *key_), "authentication");

  // Wrong key type for the alg.
  Key ec = MustKey(Key::GenerateEc(Curve::kP256));
  ExpectErrorMentions(JweDecrypt(*jwe, ec), "RSA private key");
  // A public key cannot decrypt.
  ExpectErrorMentions(JweDecrypt(*jwe, key_->PublicOnly()), "private key");
}

TEST_F(JweRsaTest, RefusedAlgorithms) {
  Json jwk = *PublicJwk(*key_);
  for (const char* alg : {"RSA1_5", "RSA-OAEP", "A256KW", "dir"}) {
    jwk["alg"] = alg;
    auto r = JweEncrypt(jwk, ToBytes("x"));
    ASSERT_FALSE(r.ok()) << alg;
    EXPECT_NE(r.error().message.find(alg), std::string::npos) << r.error().message;
  }
  jwk["alg"] = "ECDH-ES+A256KW";
  auto mismatch = JweEncrypt(jwk, ToBytes("x"));
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.error().message.find("EC key"), std::string::npos);
  Json ec_jwk = *PublicJwk(MustKey(Key::GenerateEc(Curve::kP256)), "RSA-OAEP-256");
  EXPECT_FALSE(JweEncrypt(ec_jwk, ToBytes("x")).ok());
  Json ed_jwk = *PublicJwk(MustKey(Key::GenerateEd25519()));
  auto ed = JweEncrypt(ed_jwk, ToBytes("x"));
  ASSERT_FALSE(ed.ok());
  EXPECT_NE(ed.error().message.find("Ed25519"), std::string::npos);
  EXPECT_FALSE(JweEncrypt(Json::array(), ToBytes("x")).ok());

  // Decryption refuses RSA1_5 too (a JWE claiming it).
  auto jwe = JweEncrypt(*PublicJwk(*key_), ToBytes("x"));
  Json bad = *jwe;
  bad["protected"] = Base64UrlEncode(R"({"alg":"RSA1_5","enc":"A256GCM"})");
  ExpectErrorMentions(JweDecrypt(bad, *key_), "RSA1_5");
}

// ---- ECDH epk validation --------------------------------------------------------------------

Json WithProtectedHeader(const Json& jwe, const Json& header) {
  Json out = jwe;
  out["protected"] = Base64UrlEncode(header.dump());
  return out;
}

TEST(JweEpk, OffCurveAndWrongCurveRefused) {
  Key key = MustKey(Key::GenerateEc(Curve::kP256));
  auto jwe = JweEncrypt(*PublicJwk(key), ToBytes("x"));
  ASSERT_TRUE(jwe.ok());
  Json header = Json::parse(DecodeB64uString((*jwe)["protected"].get<std::string>()));

  Json off_curve = header;
  Bytes y = *Base64UrlDecode(off_curve["epk"]["y"].get<std::string>());
  y[31] ^= 0x01;
  off_curve["epk"]["y"] = Base64UrlEncode(y);
  auto r1 = JweDecrypt(WithProtectedHeader(*jwe, off_curve), key);
  ExpectErrorMentions(r1, "epk");
  ExpectErrorMentions(r1, "not a");

  Json other_curve = header;
  other_curve["epk"] = *PublicJwk(MustKey(Key::GenerateEc(Curve::kP384)));
  ExpectErrorMentions(JweDecrypt(WithProtectedHeader(*jwe, other_curve), key), "P-384");

  Json rsa_epk = header;
  rsa_epk["epk"] = Json{{"kty", "RSA"}, {"n", "AQAB"}, {"e", "AQAB"}};
  ExpectErrorMentions(JweDecrypt(WithProtectedHeader(*jwe, rsa_epk), key), "epk");

  Json no_epk = header;
  no_epk.erase("epk");
  ExpectErrorMentions(JweDecrypt(WithProtectedHeader(*jwe, no_epk), key), "epk");
}

TEST(JweDecrypt, MalformedInputsNameTheProblem) {
  Key key = MustKey(Key::GenerateEc(Curve::kP256));
  auto jwe = JweEncrypt(*PublicJwk(key), ToBytes("x"));
  ASSERT_TRUE(jwe.ok());
  for (const char* member : {"protected", "encrypted_key", "iv", "ciphertext", "tag"}) {
    Json bad = *jwe;
    bad.erase(member);
    ExpectErrorMentions(JweDecrypt(bad, key), member);
    bad[member] = 5;
    ExpectErrorMentions(JweDecrypt(bad, key), member);
  }
  Json bad_b64 = *jwe;
  bad_b64["iv"] = "!!!!";
  ExpectErrorMentions(JweDecrypt(bad_b64, key), "iv");
  Json short_iv = *jwe;
  short_iv["iv"] = Base64UrlEncode(Bytes(8, 0));
  ExpectErrorMentions(JweDecrypt(short_iv, key), "iv");
  Json header = Json::parse(DecodeB64uString((*jwe)["protected"].get<std::string>()));
  Json bad_enc = header;
  bad_enc["enc"] = "A128CBC-HS256";
  ExpectErrorMentions(JweDecrypt(WithProtectedHeader(*jwe, bad_enc), key), "A128CBC-HS256");
  Json zip = header;
  zip["zip"] = "DEF";
  ExpectErrorMentions(JweDecrypt(WithProtectedHeader(*jwe, zip), key), "zip");
  Json dup = *jwe;
  dup["header"] = Json{{"alg", "ECDH-ES+A256KW"}};
  ExpectErrorMentions(JweDecrypt(dup, key), "more than one header");
  Json not_json = *jwe;
  not_json["protected"] = Base64UrlEncode("{not json");
  ExpectErrorMentions(JweDecrypt(not_json, key), "protected");
  ExpectErrorMentions(JweDecrypt(Json("string"), key), "not a JSON object");
  Json general = *jwe;
  general["recipients"] = Json::array();
  ExpectErrorMentions(JweDecrypt(general, key), "recipients");
}

// ---- Interoperability with jwcrypto ---------------------------------------------------------

struct JwcryptoCase {
  const char* name;
  const char* jwe;
  const char* pem;
  const char* plaintext;
};

const JwcryptoCase kJwcryptoCases[] = {
    {"Ec256_EcdhEsA256Kw_A256Gcm", kJwcryptoEc256Jwe, kJwcryptoEc256Pem, kJwcryptoEc256Plaintext},
    {"Ec384_EcdhEsA128Kw_A128Gcm_ApuApv", kJwcryptoEc384Jwe, kJwcryptoEc384Pem,
     kJwcryptoEc384Plaintext},
    {"Ec521_EcdhEsA192Kw_Unprotected", kJwcryptoEc521Jwe, kJwcryptoEc521Pem,
     kJwcryptoEc521Plaintext},
    {"Rsa_OaepSha256", kJwcryptoRsaOaep256Jwe, kJwcryptoRsaOaep256Pem,
     kJwcryptoRsaOaep256Plaintext},
    {"Rsa_OaepSha1_Aad", kJwcryptoRsaOaepJwe, kJwcryptoRsaOaepPem, kJwcryptoRsaOaepPlaintext},
};

TEST(JweJwcrypto, DecryptsJwcryptoOutput) {
  for (const JwcryptoCase& c : kJwcryptoCases) {
    SCOPED_TRACE(c.name);
    Key key = MustKey(Key::FromPem(c.pem));
    Json jwe = Json::parse(c.jwe);
    EXPECT_EQ(Plain(JweDecrypt(jwe, key)), c.plaintext);
    // Tampered tag fails.
    Json bad = jwe;
    FlipMemberBit(&bad, "tag", 0);
    EXPECT_FALSE(JweDecrypt(bad, key).ok());
  }
}

TEST(JweJwcrypto, AadMemberIsAuthenticated) {
  Key key = MustKey(Key::FromPem(kJwcryptoRsaOaepPem));
  Json jwe = Json::parse(kJwcryptoRsaOaepJwe);
  ASSERT_TRUE(jwe.contains("aad"));
  jwe["aad"] = Base64UrlEncode(std::string_view("other-aad"));
  ExpectErrorMentions(JweDecrypt(jwe, key), "authentication");
}

TEST(JweJwcrypto, ApuApvAreUsed) {
  Key key = MustKey(Key::FromPem(kJwcryptoEc384Pem));
  Json jwe = Json::parse(kJwcryptoEc384Jwe);
  Json header = Json::parse(DecodeB64uString(jwe["protected"].get<std::string>()));
  header["apv"] = Base64UrlEncode(std::string_view("Eve"));
  ExpectErrorMentions(JweDecrypt(WithProtectedHeader(jwe, header), key), "encrypted_key");
}

}  // namespace
}  // namespace coco::jose
