// Writes the seed inputs that need the fixed keys of fuzz_keys.h: JWEs encrypted to them, JWTs
// and cosign signatures made with them, and their public JWKs. Usage: fuzz_seedgen CORPUS_DIR
// (normally fuzz/corpus). The other seeds are hand-written or come from make_tar_seeds.py.
#include <cstdio>
#include <string>

#include "base/bytes.h"
#include "base/file.h"
#include "crypto/crypto.h"
#include "fuzz_keys.h"
#include "jose/jwe.h"
#include "jose/jwk.h"
#include "jose/jwt.h"
#include "signature/cosign.h"

using namespace coco;  // NOLINT: a small tool

namespace {

template <class T>
T Must(Result<T> r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, r.error().message.c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

void Write(const std::string& path, const std::string& data) {
  Status s = WriteFileAtomic(path, data);
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), s.error().message.c_str());
    std::exit(1);
  }
  std::printf("wrote %s (%zu bytes)\n", path.c_str(), data.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  auto ec = Must(crypto::Key::FromPem(fuzz::kEcP256Pem), "EC key");
  auto rsa = Must(crypto::Key::FromPem(fuzz::kRsa2048Pem), "RSA key");
  auto ed = Must(crypto::Key::GenerateEd25519(), "Ed25519 key");
  auto ec_jwk = Must(jose::PublicJwk(ec), "EC JWK");
  auto rsa_jwk = Must(jose::PublicJwk(rsa, "RSA-OAEP-256"), "RSA JWK");

  Write(dir + "/jose_jwk/ec_p256.json", ec_jwk.dump());
  Write(dir + "/jose_jwk/rsa_2048.json", rsa_jwk.dump());
  Write(dir + "/jose_jwk/ed25519.json", Must(jose::PublicJwk(ed, "EdDSA"), "Ed25519 JWK").dump());

  Bytes secret = ToBytes("a resource from the key broker");
  Write(dir + "/jose_jwe/ecdh_es_a256kw.json",
        Must(jose::JweEncrypt(ec_jwk, secret), "EC JWE").dump());
  Write(dir + "/jose_jwe/rsa_oaep_256.json",
        Must(jose::JweEncrypt(rsa_jwk, secret), "RSA JWE").dump());

  nlohmann::json claims = {{"iss", "coco-kbs"},
                           {"exp", 1'900'000'000},
                           {"nbf", 1'600'000'000},
                           {"submods", {{"cpu", {{"ear.status", "affirming"}}}}}};
  Write(dir + "/jose_jwt/es256.jwt", Must(jose::SignJwt(ec, claims), "JWT"));
  Write(dir + "/jose_jwt/es256_jwk_header.jwt",
        Must(jose::SignJwt(ec, {{"nonce", "abc"}}, {{"jwk", ec_jwk}}), "JWT with jwk"));

  auto cosign = Must(signature::SignCosign(ec, "docker.io/library/busybox:latest",
                                           "sha256:" + std::string(64, 'a')),
                     "cosign");
  Write(dir + "/signature_cosign/signed.bin", cosign.manifest + std::string(1, '\0') +
                                                  cosign.payload + std::string(1, '\0') +
                                                  cosign.config);
  return 0;
}
