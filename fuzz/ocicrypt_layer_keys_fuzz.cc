// Layer key material from hostile annotations (src/ocicrypt): key-provider packets, private and
// public cipher options, and the unwrap loop over keys.* annotations with a fixed KEK and the
// fixed P-256 JWE key.
// Input: JSON {"annotations":{...}} or raw bytes tried as a packet and as options.
// Invariants: nothing throws; a packet that parses re-serializes and parses to the same fields;
// a successful unwrap yields 32-byte keys and 16-byte nonces.
#include <nlohmann/json.hpp>

#include "crypto/crypto.h"
#include "fuzz_keys.h"
#include "fuzz_util.h"
#include "ocicrypt/layer_keys.h"
#include "ocicrypt/options.h"
#include "ocicrypt/provider_packet.h"

namespace ocicrypt = coco::ocicrypt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const coco::crypto::Key ec = *coco::crypto::Key::FromPem(coco::fuzz::kEcP256Pem);
  static const coco::SecretBytes kek(coco::Bytes(32, 0x42));
  coco::Bytes raw(data, data + size);
  std::string_view text = coco::fuzz::AsString(data, size);

  auto packet = ocicrypt::ParseProviderPacket(raw);
  if (packet.ok()) {
    auto again =
        ocicrypt::ParseProviderPacket(coco::ToBytes(ocicrypt::SerializeProviderPacket(*packet)));
    FUZZ_CHECK(again.ok() && again->kid == packet->kid && again->iv == packet->iv &&
               again->wrapped_data == packet->wrapped_data &&
               again->wrap_type == packet->wrap_type);
    (void)ocicrypt::UnwrapWithKek(*packet, kek);
  }
  auto priv = ocicrypt::ParsePrivateOptions(coco::SecretBytes(raw));
  if (priv.ok()) {
    FUZZ_CHECK(priv->symkey.size() == 32 && priv->nonce.size() == 16);
    auto again = ocicrypt::ParsePrivateOptions(ocicrypt::SerializePrivateOptions(*priv));
    FUZZ_CHECK(again.ok() && again->digest == priv->digest &&
               again->symkey.bytes() == priv->symkey.bytes());
  }
  (void)ocicrypt::ParsePublicOptions(text);

  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("annotations") && j["annotations"].is_object()) {
    std::map<std::string, std::string> ann;
    for (auto it = j["annotations"].begin(); it != j["annotations"].end(); ++it) {
      if (it->is_string()) ann[it.key()] = it->get<std::string>();
    }
    auto jwe = ocicrypt::NewJweUnwrapper({ec});
    auto kbs = ocicrypt::NewProviderUnwrapper(
        [](const std::string&) -> coco::Result<coco::SecretBytes> { return kek; },
        /*allow_ctr=*/true);
    auto key = ocicrypt::UnwrapLayerKey(ann, {jwe.get(), kbs.get()});
    if (key.ok()) {
      FUZZ_CHECK(key->priv.symkey.size() == 32 && key->priv.nonce.size() == 16 &&
                 key->pub.hmac.size() == 32);
    } else {
      FUZZ_CHECK(!key.error().message.empty());
    }
  }
  return 0;
}
