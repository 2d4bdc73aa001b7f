#include "jose/jwe.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <string>

#include "base/json.h"
#include "jose/jwe_internal.h"
#include "jose/jwk.h"

namespace coco::jose {
namespace {

using Json = nlohmann::json;

constexpr size_t kIvSize = 12;

void AppendBe32(Bytes* out, uint32_t v) {
  out->push_back(static_cast<uint8_t>(v >> 24));
  out->push_back(static_cast<uint8_t>(v >> 16));
  out->push_back(static_cast<uint8_t>(v >> 8));
  out->push_back(static_cast<uint8_t>(v));
}

void AppendLengthPrefixed(Bytes* out, const uint8_t* data, size_t size) {
  AppendBe32(out, static_cast<uint32_t>(size));
  out->insert(out->end(), data, data + size);
}

// Key-management algorithms this module understands.
enum class KeyAlg { kEcdhEsA128Kw, kEcdhEsA192Kw, kEcdhEsA256Kw, kRsaOaep256, kRsaOaep };

Result<KeyAlg> ParseKeyAlg(const std::string& alg) {
  if (alg == "ECDH-ES+A256KW") return KeyAlg::kEcdhEsA256Kw;
  if (alg == "ECDH-ES+A192KW") return KeyAlg::kEcdhEsA192Kw;
  if (alg == "ECDH-ES+A128KW") return KeyAlg::kEcdhEsA128Kw;
  if (alg == "RSA-OAEP-256") return KeyAlg::kRsaOaep256;
  if (alg == "RSA-OAEP") return KeyAlg::kRsaOaep;
  if (alg == "RSA1_5") {
    return MakeError(Code::kInvalidArgument,
                     "JWE alg \"RSA1_5\" is refused (PKCS#1 v1.5 padding is insecure)");
  }
  return MakeError(Code::kInvalidArgument, "unsupported JWE alg \"" + alg +
                                               "\" (supported: ECDH-ES+A256KW, ECDH-ES+A192KW, "
                                               "ECDH-ES+A128KW, RSA-OAEP-256, RSA-OAEP)");
}

bool IsEcdh(KeyAlg a) {
  return a == KeyAlg::kEcdhEsA128Kw || a == KeyAlg::kEcdhEsA192Kw || a == KeyAlg::kEcdhEsA256Kw;
}

size_t KwBits(KeyAlg a) {
  switch (a) {
    case KeyAlg::kEcdhEsA128Kw:
      return 128;
    case KeyAlg::kEcdhEsA192Kw:
      return 192;
    default:
      return 256;
  }
}

// The protected header as upstream's client serializes it: "alg", "enc", then the remaining
// members in key order, compact (nlohmann objects are key-sorted, nested ones too).
Result<std::string> SerializeHeader(const Json& header) {
  try {
    std::string out = "{\"alg\":" + header.at("alg").dump() + ",\"enc\":" + header.at("enc").dump();
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "alg" || it.key() == "enc") continue;
      out += "," + Json(it.key()).dump() + ":" + it.value().dump();
    }
    out += "}";
    return out;
  } catch (const Json::exception& e) {
    return MakeError(Code::kInvalidArgument,
                     std::string("cannot serialize JWE header: ") + e.what());
  }
}

Result<std::string> StringMember(const Json& obj, const char* name, const char* where) {
  auto it = obj.find(name);
  if (it == obj.end()) {
    return MakeError(Code::kInvalidArgument,
                     std::string(where) + " has no \"" + name + "\" member");
  }
  if (!it->is_string()) {
    return MakeError(Code::kInvalidArgument,
                     std::string(where) + " member \"" + name + "\" is not a string");
  }
  return it->get<std::string>();
}

Result<Bytes> Base64UrlMember(const Json& obj, const char* name, const char* where) {
  COCO_ASSIGN_OR_RETURN(std::string text, StringMember(obj, name, where));
  auto bytes = Base64UrlDecode(text);
  if (!bytes.ok()) {
    return MakeError(Code::kInvalidArgument, std::string(where) + " member \"" + name +
                                                 "\" is not base64url: " + bytes.error().message);
  }
  return std::move(bytes).value();
}

// Optional base64url header member (apu/apv): empty when absent.
Result<Bytes> OptionalBase64UrlMember(const Json& obj, const char* name, const char* where) {
  if (!obj.contains(name)) return Bytes();
  return Base64UrlMember(obj, name, where);
}

Result<Json> EncryptImpl(const Json& tee_pubkey, const Bytes& plaintext) {
  if (!tee_pubkey.is_object()) {
    return MakeError(Code::kInvalidArgument, "JWE recipient key (tee-pubkey) is not a JSON object");
  }
  COCO_ASSIGN_OR_RETURN(crypto::Key recipient, KeyFromJwk(tee_pubkey));
  std::string alg;
  auto alg_it = tee_pubkey.find("alg");
  if (alg_it != tee_pubkey.end()) {
    if (!alg_it->is_string()) {
      return MakeError(Code::kInvalidArgument, "JWE recipient JWK member \"alg\" is not a string");
    }
    alg = alg_it->get<std::string>();
  } else if (recipient.type() == crypto::Key::Type::kEc) {
    alg = "ECDH-ES+A256KW";
  } else if (recipient.type() == crypto::Key::Type::kRsa) {
    alg = "RSA-OAEP-256";
  } else {
    return MakeError(Code::kInvalidArgument,
                     "JWE recipient JWK is an Ed25519 (OKP) key, which cannot encrypt");
  }
  if (alg == "RSA-OAEP") {
    return MakeError(Code::kInvalidArgument,
                     "JWE recipient JWK alg \"RSA-OAEP\" is refused for encryption (SHA-1); use "
                     "RSA-OAEP-256");
  }
  if (alg != "ECDH-ES+A256KW" && alg != "RSA-OAEP-256") {
    if (alg == "RSA1_5") {
      return MakeError(Code::kInvalidArgument,
                       "JWE recipient JWK alg \"RSA1_5\" is refused (PKCS#1 v1.5 is insecure)");
    }
    return MakeError(Code::kInvalidArgument, "JWE recipient JWK alg \"" + alg +
                                                 "\" is not supported for encryption (want "
                                                 "ECDH-ES+A256KW or RSA-OAEP-256)");
  }
  bool ecdh = alg == "ECDH-ES+A256KW";
  if (ecdh && recipient.type() != crypto::Key::Type::kEc) {
    return MakeError(Code::kInvalidArgument,
                     "JWE recipient JWK alg \"ECDH-ES+A256KW\" needs an EC key, but \"kty\" is " +
                         (tee_pubkey.contains("kty") && tee_pubkey["kty"].is_string()
                              ? tee_pubkey["kty"].get<std::string>()
                              : std::string("?")));
  }
  if (!ecdh && recipient.type() != crypto::Key::Type::kRsa) {
    return MakeError(Code::kInvalidArgument,
                     "JWE recipient JWK alg \"RSA-OAEP-256\" needs an RSA key, but \"kty\" is " +
                         (tee_pubkey.contains("kty") && tee_pubkey["kty"].is_string()
                              ? tee_pubkey["kty"].get<std::string>()
                              : std::string("?")));
  }

  SecretBytes cek(crypto::RandomBytes(32));
  Json header = Json::object();
  header["alg"] = alg;
  header["enc"] = "A256GCM";
  COCO_ASSIGN_OR_RETURN(Bytes encrypted_key, detail::WrapCek(recipient, alg, cek, header));
  COCO_ASSIGN_OR_RETURN(std::string header_text, SerializeHeader(header));
  std::string protected_b64 = Base64UrlEncode(header_text);
  Bytes iv = crypto::RandomBytes(kIvSize);
  COCO_ASSIGN_OR_RETURN(crypto::GcmSealed sealed,
                        crypto::AesGcmEncrypt(cek.bytes(), iv, protected_b64, plaintext));
  Json out = Json::object();
  out["protected"] = protected_b64;
  out["encrypted_key"] = Base64UrlEncode(encrypted_key);
  out["iv"] = Base64UrlEncode(iv);
  out["ciphertext"] = Base64UrlEncode(sealed.ciphertext);
  out["tag"] = Base64UrlEncode(sealed.tag);
  return out;
}

// The JOSE header: the protected header plus the shared unprotected ("unprotected") and
// per-recipient ("header") headers, which must not repeat a member (RFC 7516 §7.2.1).
Result<Json> JoseHeader(const Json& jwe, const std::string& protected_b64) {
  auto raw = Base64UrlDecode(protected_b64);
  if (!raw.ok()) {
    return MakeError(Code::kInvalidArgument,
                     "JWE member \"protected\" is not base64url: " + raw.error().message);
  }
  Json header = ParseJsonOrDiscarded(*raw);
  if (header.is_discarded() || !header.is_object()) {
    return MakeError(Code::kInvalidArgument, "JWE protected header is not a JSON object");
  }
  for (const char* name : {"unprotected", "header"}) {
    auto it = jwe.find(name);
    if (it == jwe.end()) continue;
    if (!it->is_object()) {
      return MakeError(Code::kInvalidArgument,
                       std::string("JWE member \"") + name + "\" is not a JSON object");
    }
    for (auto m = it->begin(); m != it->end(); ++m) {
      if (header.contains(m.key())) {
        return MakeError(Code::kInvalidArgument,
                         "JWE header member \"" + m.key() + "\" appears in more than one header");
      }
      header[m.key()] = m.value();
    }
  }
  return header;
}

Result<SecretBytes> DecryptImpl(const Json& jwe, const crypto::Key& private_key) {
  if (!jwe.is_object()) return MakeError(Code::kInvalidArgument, "JWE is not a JSON object");
  if (jwe.contains("recipients")) {
    return MakeError(Code::kInvalidArgument,
                     "JWE uses the general JSON serialization (\"recipients\"); only the "
                     "flattened form is supported");
  }
  if (private_key.get() == nullptr || !private_key.has_private()) {
    return MakeError(Code::kInvalidArgument, "JWE decryption needs a private key");
  }
  COCO_ASSIGN_OR_RETURN(std::string protected_b64, StringMember(jwe, "protected", "JWE"));
  COCO_ASSIGN_OR_RETURN(Json header, JoseHeader(jwe, protected_b64));
  COCO_ASSIGN_OR_RETURN(std::string alg_name, StringMember(header, "alg", "JWE header"));
  COCO_ASSIGN_OR_RETURN(std::string enc, StringMember(header, "enc", "JWE header"));
  if (header.contains("zip")) {
    return MakeError(Code::kInvalidArgument, "JWE header \"zip\" (compression) is not supported");
  }
  if (header.contains("crit")) {
    return MakeError(Code::kInvalidArgument, "JWE header \"crit\" extensions are not supported");
  }
  COCO_RETURN_IF_ERROR(ParseKeyAlg(alg_name));
  COCO_ASSIGN_OR_RETURN(size_t cek_size, detail::GcmKeySize(enc));
  COCO_ASSIGN_OR_RETURN(Bytes encrypted_key, Base64UrlMember(jwe, "encrypted_key", "JWE"));
  COCO_ASSIGN_OR_RETURN(Bytes iv, Base64UrlMember(jwe, "iv", "JWE"));
  COCO_ASSIGN_OR_RETURN(Bytes ciphertext, Base64UrlMember(jwe, "ciphertext", "JWE"));
  COCO_ASSIGN_OR_RETURN(Bytes tag, Base64UrlMember(jwe, "tag", "JWE"));
  if (iv.size() != kIvSize) {
    return MakeError(Code::kInvalidArgument,
                     "JWE member \"iv\" has " + std::to_string(iv.size()) + " bytes, expected 12");
  }
  if (tag.size() != 16) {
    return MakeError(
        Code::kInvalidArgument,
        "JWE member \"tag\" has " + std::to_string(tag.size()) + " bytes, expected 16");
  }

  COCO_ASSIGN_OR_RETURN(SecretBytes cek, detail::UnwrapCek(header, private_key, encrypted_key));
  if (cek.size() != cek_size) {
    return MakeError(Code::kInvalidArgument, "JWE content key has " + std::to_string(cek.size()) +
                                                 " bytes, but enc \"" + enc + "\" needs " +
                                                 std::to_string(cek_size));
  }

  std::string aad = protected_b64;
  auto aad_it = jwe.find("aad");
  if (aad_it != jwe.end()) {
    if (!aad_it->is_string()) {
      return MakeError(Code::kInvalidArgument, "JWE member \"aad\" is not a string");
    }
    aad += "." + aad_it->get<std::string>();
  }
  auto plain = crypto::AesGcmDecrypt(cek.bytes(), iv, aad, ciphertext, tag);
  if (!plain.ok()) {
    return MakeError(plain.error().code, "JWE content does not decrypt: " + plain.error().message);
  }
  return std::move(plain).value();
}

}  // namespace

namespace detail {

Result<size_t> GcmKeySize(const std::string& enc) {
  if (enc == "A256GCM") return size_t{32};
  if (enc == "A192GCM") return size_t{24};
  if (enc == "A128GCM") return size_t{16};
  return MakeError(Code::kInvalidArgument,
                   "unsupported JWE enc \"" + enc + "\" (supported: A256GCM, A192GCM, A128GCM)");
}

Result<Bytes> WrapCek(const crypto::Key& recipient, const std::string& alg, const SecretBytes& cek,
                      Json& header) {
  COCO_ASSIGN_OR_RETURN(KeyAlg key_alg, ParseKeyAlg(alg));
  if (IsEcdh(key_alg)) {
    if (recipient.type() != crypto::Key::Type::kEc) {
      return MakeError(Code::kInvalidArgument, "JWE alg \"" + alg + "\" needs an EC recipient key");
    }
    COCO_ASSIGN_OR_RETURN(crypto::Key ephemeral, crypto::Key::GenerateEc(recipient.curve()));
    COCO_ASSIGN_OR_RETURN(Json epk, PublicJwk(ephemeral));
    COCO_ASSIGN_OR_RETURN(SecretBytes z, crypto::EcdhDerive(ephemeral, recipient));
    SecretBytes kek = ConcatKdf(z.bytes(), alg, Bytes(), Bytes(), KwBits(key_alg));
    header["epk"] = std::move(epk);
    return crypto::AesKeyWrap(kek.bytes(), cek.bytes());
  }
  if (recipient.type() != crypto::Key::Type::kRsa) {
    return MakeError(Code::kInvalidArgument, "JWE alg \"" + alg + "\" needs an RSA recipient key");
  }
  return crypto::RsaOaepEncrypt(recipient, cek.bytes(), key_alg == KeyAlg::kRsaOaep);
}

Result<SecretBytes> UnwrapCek(const Json& header, const crypto::Key& private_key,
                              const Bytes& encrypted_key) {
  COCO_ASSIGN_OR_RETURN(std::string alg_name, StringMember(header, "alg", "JWE header"));
  COCO_ASSIGN_OR_RETURN(KeyAlg alg, ParseKeyAlg(alg_name));
  if (IsEcdh(alg)) {
    if (private_key.type() != crypto::Key::Type::kEc) {
      return MakeError(Code::kInvalidArgument,
                       "JWE alg \"" + alg_name + "\" needs an EC private key, got another type");
    }
    auto epk_it = header.find("epk");
    if (epk_it == header.end() || !epk_it->is_object()) {
      return MakeError(Code::kInvalidArgument, "JWE header has no \"epk\" object for " + alg_name);
    }
    auto kty = epk_it->find("kty");
    if (kty == epk_it->end() || !kty->is_string() || *kty != "EC") {
      return MakeError(Code::kInvalidArgument,
                       "JWE header \"epk\" is not an EC key (\"kty\" is not \"EC\")");
    }
    auto epk = KeyFromJwk(*epk_it);
    if (!epk.ok()) {
      return MakeError(epk.error().code, "JWE header \"epk\" is invalid: " + epk.error().message);
    }
    if (epk->curve() != private_key.curve()) {
      return MakeError(Code::kInvalidArgument,
                       "JWE header \"epk\" is on " + crypto::CurveName(epk->curve()) +
                           " but the private key is on " + crypto::CurveName(private_key.curve()));
    }
    COCO_ASSIGN_OR_RETURN(Bytes apu, OptionalBase64UrlMember(header, "apu", "JWE header"));
    COCO_ASSIGN_OR_RETURN(Bytes apv, OptionalBase64UrlMember(header, "apv", "JWE header"));
    COCO_ASSIGN_OR_RETURN(SecretBytes z, crypto::EcdhDerive(private_key, *epk));
    SecretBytes kek = ConcatKdf(z.bytes(), alg_name, apu, apv, KwBits(alg));
    auto unwrapped = crypto::AesKeyUnwrap(kek.bytes(), encrypted_key);
    if (!unwrapped.ok()) {
      return MakeError(unwrapped.error().code, "JWE member \"encrypted_key\" does not unwrap: " +
                                                   unwrapped.error().message);
    }
    return std::move(unwrapped).value();
  }
  if (private_key.type() != crypto::Key::Type::kRsa) {
    return MakeError(Code::kInvalidArgument,
                     "JWE alg \"" + alg_name + "\" needs an RSA private key, got another type");
  }
  auto decrypted = crypto::RsaOaepDecrypt(private_key, encrypted_key, alg == KeyAlg::kRsaOaep);
  if (!decrypted.ok()) {
    return MakeError(decrypted.error().code,
                     "JWE member \"encrypted_key\" does not decrypt: " + decrypted.error().message);
  }
  return std::move(decrypted).value();
}

Result<Json> JoseHeaderOf(const Json& jwe, const std::string& protected_b64) {
  return JoseHeader(jwe, protected_b64);
}

Result<std::string> StringMemberOf(const Json& obj, const char* name, const char* where) {
  return StringMember(obj, name, where);
}

Result<Bytes> Base64UrlMemberOf(const Json& obj, const char* name, const char* where) {
  return Base64UrlMember(obj, name, where);
}

}  // namespace detail

SecretBytes ConcatKdf(const Bytes& z, std::string_view alg_id, const Bytes& apu, const Bytes& apv,
                      size_t key_bits) {
  // OtherInfo = AlgorithmID || PartyUInfo || PartyVInfo || SuppPubInfo (SuppPrivInfo empty).
  Bytes other_info;
  AppendLengthPrefixed(&other_info, reinterpret_cast<const uint8_t*>(alg_id.data()), alg_id.size());
  AppendLengthPrefixed(&other_info, apu.data(), apu.size());
  AppendLengthPrefixed(&other_info, apv.data(), apv.size());
  AppendBe32(&other_info, static_cast<uint32_t>(key_bits));

  size_t key_bytes = (key_bits + 7) / 8;
  SecretBytes out;
  out.mutable_bytes().reserve(key_bytes + 32);  // no reallocation: every copy is wiped
  SecretBytes round_input;
  round_input.mutable_bytes().reserve(4 + z.size() + other_info.size());
  for (uint32_t counter = 1; out.size() < key_bytes; ++counter) {
    Bytes& in = round_input.mutable_bytes();
    OPENSSL_cleanse(in.data(), in.size());
    in.clear();
    AppendBe32(&in, counter);
    in.insert(in.end(), z.begin(), z.end());
    in.insert(in.end(), other_info.begin(), other_info.end());
    SecretBytes digest(crypto::Hash(crypto::HashAlg::kSha256, in));
    size_t take = std::min(digest.size(), key_bytes - out.size());
    out.mutable_bytes().insert(out.mutable_bytes().end(), digest.bytes().begin(),
                               digest.bytes().begin() + static_cast<std::ptrdiff_t>(take));
  }
  if (key_bits % 8 != 0) {
    out.mutable_bytes().back() &= static_cast<uint8_t>(0xFF << (8 - key_bits % 8));
  }
  return out;
}

Result<nlohmann::json> JweEncrypt(const nlohmann::json& tee_pubkey, const Bytes& plaintext) {
  try {
    return EncryptImpl(tee_pubkey, plaintext);
  } catch (const nlohmann::json::exception& e) {
    return MakeError(Code::kInvalidArgument,
                     std::string("JWE encryption failed on JSON: ") + e.what());
  }
}

Result<SecretBytes> JweDecrypt(const nlohmann::json& jwe, const crypto::Key& private_key) {
  try {
    return DecryptImpl(jwe, private_key);
  } catch (const nlohmann::json::exception& e) {
    return MakeError(Code::kInvalidArgument, std::string("malformed JWE: ") + e.what());
  }
}

}  // namespace coco::jose
