#include "jose/jwe_general.h"

#include "base/json.h"
#include "jose/jwe_internal.h"

namespace coco::jose {
namespace {

using Json = nlohmann::json;

// Each recipient costs a private-key operation per key tried: bound what a hostile image asks.
constexpr size_t kMaxRecipients = 64;

std::string DefaultAlg(const crypto::Key& key) {
  return key.type() == crypto::Key::Type::kRsa ? "RSA-OAEP-256" : "ECDH-ES+A256KW";
}

Result<Json> Encrypt(const std::vector<JweRecipient>& recipients, const Bytes& plaintext) {
  if (recipients.empty())
    return MakeError(Code::kInvalidArgument, "JWE needs at least one recipient");
  SecretBytes cek(crypto::RandomBytes(32));
  Json out = Json::object();
  Json protected_header = Json::object();
  protected_header["enc"] = "A256GCM";
  if (recipients.size() == 1) {
    const JweRecipient& r = recipients[0];
    if (r.key.type() == crypto::Key::Type::kEd25519) {
      return MakeError(Code::kInvalidArgument, "an Ed25519 key cannot be a JWE recipient");
    }
    protected_header["alg"] = r.alg.empty() ? DefaultAlg(r.key) : r.alg;
    COCO_ASSIGN_OR_RETURN(
        Bytes ek,
        detail::WrapCek(r.key, protected_header["alg"].get<std::string>(), cek, protected_header));
    out["encrypted_key"] = Base64UrlEncode(ek);
  } else {
    Json list = Json::array();
    for (size_t i = 0; i < recipients.size(); ++i) {
      const JweRecipient& r = recipients[i];
      if (r.key.type() == crypto::Key::Type::kEd25519) {
        return MakeError(Code::kInvalidArgument, "JWE recipient " + std::to_string(i + 1) +
                                                     " is an Ed25519 key, which cannot encrypt");
      }
      Json header = Json::object();
      header["alg"] = r.alg.empty() ? DefaultAlg(r.key) : r.alg;
      COCO_ASSIGN_OR_RETURN(Bytes ek,
                            detail::WrapCek(r.key, header["alg"].get<std::string>(), cek, header));
      list.push_back(Json{{"header", header}, {"encrypted_key", Base64UrlEncode(ek)}});
    }
    out["recipients"] = std::move(list);
  }
  std::string protected_b64 = Base64UrlEncode(protected_header.dump());
  Bytes iv = crypto::RandomBytes(12);
  COCO_ASSIGN_OR_RETURN(crypto::GcmSealed sealed,
                        crypto::AesGcmEncrypt(cek.bytes(), iv, protected_b64, plaintext));
  out["protected"] = protected_b64;
  out["iv"] = Base64UrlEncode(iv);
  out["ciphertext"] = Base64UrlEncode(sealed.ciphertext);
  out["tag"] = Base64UrlEncode(sealed.tag);
  return out;
}

// One recipient's view of the JWE: the top-level members plus its "header"/"encrypted_key".
Json RecipientView(const Json& jwe, const Json& recipient) {
  Json view = Json::object();
  for (const char* m : {"protected", "unprotected", "iv", "ciphertext", "tag", "aad"}) {
    if (jwe.contains(m)) view[m] = jwe[m];
  }
  if (recipient.contains("header")) view["header"] = recipient["header"];
  if (recipient.contains("encrypted_key")) view["encrypted_key"] = recipient["encrypted_key"];
  return view;
}

Result<SecretBytes> DecryptOne(const Json& view, const crypto::Key& key) {
  std::string protected_b64;
  if (view.contains("protected")) {
    if (!view["protected"].is_string()) {
      return MakeError(Code::kInvalidArgument, "JWE member \"protected\" is not a string");
    }
    protected_b64 = view["protected"].get<std::string>();
  }
  Json header;
  if (protected_b64.empty()) {
    // RFC 7516 allows an empty protected header; the AAD is then empty too.
    Json copy = view;
    copy["protected"] = Base64UrlEncode(std::string("{}"));
    COCO_ASSIGN_OR_RETURN(header, detail::JoseHeaderOf(copy, copy["protected"]));
  } else {
    COCO_ASSIGN_OR_RETURN(header, detail::JoseHeaderOf(view, protected_b64));
  }
  if (header.contains("zip")) {
    return MakeError(Code::kInvalidArgument, "JWE header \"zip\" (compression) is not supported");
  }
  if (header.contains("crit")) {
    return MakeError(Code::kInvalidArgument, "JWE header \"crit\" extensions are not supported");
  }
  COCO_ASSIGN_OR_RETURN(std::string enc, detail::StringMemberOf(header, "enc", "JWE header"));
  COCO_ASSIGN_OR_RETURN(size_t cek_size, detail::GcmKeySize(enc));
  COCO_ASSIGN_OR_RETURN(Bytes ek, detail::Base64UrlMemberOf(view, "encrypted_key", "JWE"));
  COCO_ASSIGN_OR_RETURN(SecretBytes cek, detail::UnwrapCek(header, key, ek));
  if (cek.size() != cek_size) {
    return MakeError(Code::kInvalidArgument, "JWE content key has " + std::to_string(cek.size()) +
                                                 " bytes, enc \"" + enc + "\" needs " +
                                                 std::to_string(cek_size));
  }
  COCO_ASSIGN_OR_RETURN(Bytes iv, detail::Base64UrlMemberOf(view, "iv", "JWE"));
  COCO_ASSIGN_OR_RETURN(Bytes ct, detail::Base64UrlMemberOf(view, "ciphertext", "JWE"));
  COCO_ASSIGN_OR_RETURN(Bytes tag, detail::Base64UrlMemberOf(view, "tag", "JWE"));
  if (iv.size() != 12 || tag.size() != 16) {
    return MakeError(Code::kInvalidArgument, "JWE \"iv\" must have 12 bytes and \"tag\" 16");
  }
  std::string aad = protected_b64;
  if (view.contains("aad")) {
    if (!view["aad"].is_string())
      return MakeError(Code::kInvalidArgument, "JWE \"aad\" is not a string");
    aad += "." + view["aad"].get<std::string>();
  }
  auto plain = crypto::AesGcmDecrypt(cek.bytes(), iv, aad, ct, tag);
  if (!plain.ok()) {
    return MakeError(plain.error().code, "JWE content does not decrypt: " + plain.error().message);
  }
  return std::move(plain).value();
}

std::string StringIn(const Json& obj, const char* name) {
  if (!obj.is_object()) return "";
  auto it = obj.find(name);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string Describe(const Json& view) {
  std::string alg = StringIn(view.contains("header") ? view["header"] : Json(), "alg");
  std::string kid = StringIn(view.contains("header") ? view["header"] : Json(), "kid");
  if (alg.empty() && view.contains("protected") && view["protected"].is_string()) {
    auto raw = Base64UrlDecode(view["protected"].get<std::string>());
    if (raw.ok()) alg = StringIn(ParseJsonOrDiscarded(*raw), "alg");
  }
  if (alg.empty()) alg = "?";
  return kid.empty() ? alg : alg + " kid " + kid;
}

Result<SecretBytes> Decrypt(const Json& jwe, const std::vector<crypto::Key>& keys) {
  if (!jwe.is_object()) return MakeError(Code::kInvalidArgument, "JWE is not a JSON object");
  std::vector<Json> views;
  if (jwe.contains("recipients")) {
    const Json& list = jwe["recipients"];
    if (!list.is_array() || list.empty()) {
      return MakeError(Code::kInvalidArgument, "JWE \"recipients\" is not a non-empty array");
    }
    if (list.size() > kMaxRecipients) {
      return MakeError(Code::kInvalidArgument, "JWE has " + std::to_string(list.size()) +
                                                   " recipients; at most " +
                                                   std::to_string(kMaxRecipients) + " are read");
    }
    for (const Json& r : list) {
      if (!r.is_object())
        return MakeError(Code::kInvalidArgument, "JWE recipient is not an object");
      views.push_back(RecipientView(jwe, r));
    }
  } else {
    views.push_back(jwe);
  }
  if (keys.empty()) return MakeError(Code::kKeyMissing, "no private key given to open the JWE");
  std::string why;
  for (size_t i = 0; i < views.size(); ++i) {
    for (size_t k = 0; k < keys.size(); ++k) {
      auto plain = DecryptOne(views[i], keys[k]);
      if (plain.ok()) return plain;
      if (why.size() < 2000) {
        why += "; recipient " + std::to_string(i + 1) + " (" + Describe(views[i]) + ") key " +
               std::to_string(k + 1) + ": " + plain.error().message;
      }
    }
  }
  return MakeError(Code::kKeyMismatch, "none of the " + std::to_string(keys.size()) +
                                           " private key(s) opens any of the " +
                                           std::to_string(views.size()) + " JWE recipient(s)" +
                                           why);
}

}  // namespace

Result<nlohmann::json> JweEncryptToRecipients(const std::vector<JweRecipient>& recipients,
                                              const Bytes& plaintext) {
  try {
    return Encrypt(recipients, plaintext);
  } catch (const Json::exception& e) {
    return MakeError(Code::kInvalidArgument, std::string("JWE encryption failed: ") + e.what());
  }
}

Result<SecretBytes> JweDecryptWithAny(const nlohmann::json& jwe,
                                      const std::vector<crypto::Key>& private_keys) {
  try {
    return Decrypt(jwe, private_keys);
  } catch (const Json::exception& e) {
    return MakeError(Code::kInvalidArgument, std::string("malformed JWE: ") + e.what());
  }
}

}  // namespace coco::jose
