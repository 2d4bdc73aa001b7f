// coco image encrypt | decrypt: ocicrypt images that skopeo and CoCo guests read.
#include <iostream>

#include "base/file.h"
#include "cli/commands.h"
#include "cli/image_common.h"
#include "crypto/crypto.h"
#include "image/crypt.h"
#include "kbsclient/admin.h"
#include "kbsclient/kbs_client.h"
#include "ocicrypt/keyprovider.h"
#include "ocicrypt/keywrap.h"
#include "ocicrypt/options.h"
#include "ocicrypt/provider_packet.h"

namespace coco::cli {
namespace {

struct BrokerFlags {
  std::string kbs, admin_token, kbs_ca;
  bool allow_ctr = false;
};

// A key-encryption key for a provider recipient: from keypath=FILE, or fresh and stored in the
// broker under the key id before any layer is written (so no image exists whose key is lost).
Result<SecretBytes> ProviderKek(const ocicrypt::ProviderParams& params, const BrokerFlags& flags,
                                const std::function<void(const std::string&)>& say) {
  std::string url = params.kbs.empty() ? flags.kbs : params.kbs;
  std::string token = params.admin_token.empty() ? flags.admin_token : params.admin_token;
  SecretBytes kek;
  if (!params.keypath.empty()) {
    COCO_ASSIGN_OR_RETURN(kek, ocicrypt::LoadKek(params.keypath));
  } else {
    if (url.empty() || token.empty()) {
      return MakeError(Code::kInvalidArgument,
                       "recipient provider:…:" + params.keyid +
                           " needs --kbs URL and --admin-token FILE (the new key-encryption key "
                           "is stored in the broker), or keypath=FILE with an existing key");
    }
    kek = SecretBytes(crypto::RandomBytes(32));
  }
  if (!url.empty() && !token.empty()) {
    COCO_RETURN_IF_ERROR(
        kbsclient::SetResource({url, token, flags.kbs_ca, net::ProxyConfigFromEnvironment()},
                               params.keyid, ToString(kek.bytes())));
    say("stored the key-encryption key in the broker as " + params.keyid);
  }
  return kek;
}

Result<std::vector<std::unique_ptr<ocicrypt::KeyWrapper>>> MakeWrappers(
    const std::vector<std::string>& recipients, const BrokerFlags& flags,
    const std::function<void(const std::string&)>& say) {
  std::vector<jose::JweRecipient> jwe;
  std::vector<std::unique_ptr<ocicrypt::KeyWrapper>> out;
  for (const std::string& r : recipients) {
    if (r.rfind("jwe:", 0) == 0) {
      COCO_ASSIGN_OR_RETURN(jose::JweRecipient rec, ocicrypt::LoadRecipient(r.substr(4)));
      jwe.push_back(std::move(rec));
    } else if (r.rfind("provider:", 0) == 0) {
      std::string rest = r.substr(9);
      size_t colon = rest.find(':');
      std::string name = rest.substr(0, colon);
      if (colon == std::string::npos || (name != "coco" && name != "attestation-agent")) {
        return MakeError(Code::kInvalidArgument,
                         "recipient " + r + ": write provider:coco:kbs:///REPO/TYPE/TAG");
      }
      COCO_ASSIGN_OR_RETURN(ocicrypt::ProviderParams params,
                            ocicrypt::ParseProviderParams(rest.substr(colon + 1)));
      if (params.keyid.empty()) {
        return MakeError(Code::kInvalidArgument,
                         "recipient " + r + " names no key id (kbs:///...)");
      }
      auto path = kbsclient::ParseResourcePath(params.keyid);
      if (!path.ok())
        return MakeError(Code::kInvalidArgument, "recipient " + r + ": " + path.error().message);
      if (params.algorithm == "A256CTR" && !flags.allow_ctr) {
        return MakeError(Code::kUnimplemented,
                         "recipient " + r +
                             ": A256CTR key wrapping has no integrity (a host "
                             "that alters the packet can learn the layer key); refused unless "
                             "--allow-ctr-key-wrap is given");
      }
      params.keyid = "kbs:///" + *path;
      if (params.keypath.empty()) {
        // A fresh key under a fixed id would replace the key of every image encrypted to that
        // id before; a suffix keeps each image's key (the kid in the image names it).
        params.keyid += "-" + HexEncode(crypto::RandomBytes(6));
      }
      COCO_ASSIGN_OR_RETURN(SecretBytes kek, ProviderKek(params, flags, say));
      // CoCo guests look for the attestation-agent provider annotation.
      out.push_back(ocicrypt::NewProviderWrapper(ocicrypt::kAttestationAgentProvider, params.keyid,
                                                 std::move(kek), params.algorithm));
    } else {
      return MakeError(Code::kInvalidArgument, "recipient \"" + r +
                                                   "\" is neither jwe:PUBKEY.pem nor "
                                                   "provider:coco:kbs:///REPO/TYPE/TAG");
    }
  }
  if (!jwe.empty()) out.insert(out.begin(), ocicrypt::NewJweWrapper(std::move(jwe)));
  return out;
}

Result<std::unique_ptr<oci::ImageDestination>> OpenDestination(const std::string& dst,
                                                               oci::RegistryClient* reg) {
  COCO_ASSIGN_OR_RETURN(oci::ImageLocation loc, oci::ImageLocation::Parse(dst));
  return oci::OpenImageDestination(loc, reg);
}

}  // namespace

void AddImageCryptCommands(CLI::App* image) {
  struct EncryptArgs {
    std::string src, dst, temp_dir;
    std::vector<std::string> recipients;
    BrokerFlags broker;
    RegistryFlags reg;
  };
  auto e = std::make_shared<EncryptArgs>();
  auto* encrypt = image->add_subcommand(
      "encrypt",
      "encrypt every layer (ocicrypt AES_256_CTR_HMAC_SHA256) and write the image to DST\n"
      "  coco image encrypt oci:./plain:v1 docker://127.0.0.1:5000/app:enc --recipient "
      "jwe:pub.pem\n"
      "  coco image encrypt docker://127.0.0.1:5000/app:v1 docker://127.0.0.1:5000/app:kbs \\\n"
      "      --recipient provider:coco:kbs:///default/image-kek/app --kbs http://127.0.0.1:8080 "
      "--admin-token admin-token\n"
      "jwe: recipients (RSA: RSA-OAEP-256, EC: ECDH-ES+A256KW, or a JWK's \"alg\") are what "
      "`skopeo copy --decryption-key` opens;\nprovider: recipients get a fresh key-encryption key "
      "stored in the broker under the kbs:/// id plus a random\nsuffix (earlier images keep "
      "theirs; with keypath=FILE an existing key goes under exactly that id), which CoCo guests "
      "fetch "
      "after attestation (annotation org.opencontainers.image.enc.keys.provider."
      "attestation-agent)");
  encrypt->add_option("SRC", e->src, "image location to read")->required();
  encrypt->add_option("DST", e->dst, "image location to write")->required();
  encrypt
      ->add_option("--recipient", e->recipients,
                   "jwe:PUBKEY.pem | provider:coco:kbs:///REPO/TYPE/TAG[::keypath=FILE]"
                   "[::algorithm=A256GCM|A256CTR] (repeatable)")
      ->required();
  encrypt->add_option("--kbs", e->broker.kbs, "broker URL that stores new key-encryption keys");
  encrypt->add_option("--admin-token", e->broker.admin_token, "file holding the broker admin JWT");
  encrypt->add_option("--kbs-cert", e->broker.kbs_ca, "PEM CA certificate for an https broker");
  encrypt->add_option("--temp-dir", e->temp_dir, "where encrypted layers are staged ($TMPDIR)");
  encrypt->add_flag("--allow-ctr-key-wrap", e->broker.allow_ctr,
                    "permit ::algorithm=A256CTR (no integrity; refused by default)");
  AddRegistryFlags(encrypt, &e->reg);
  encrypt->callback([e] {
    ProgressPrinter printer;
    auto say = [&](const std::string& s) { printer.Status(s); };
    auto opened = OpenSource(e->src, e->reg);
    if (!opened.ok()) return Fail(opened.error().message);
    auto dst = OpenDestination(e->dst, opened->reg.get());
    if (!dst.ok()) return Fail(dst.error().message);
    auto wrappers = MakeWrappers(e->recipients, e->broker, say);
    if (!wrappers.ok()) return Fail(wrappers.error().message);
    std::vector<ocicrypt::KeyWrapper*> list;
    for (auto& w : *wrappers) list.push_back(w.get());
    image::CryptOptions o;
    o.temp_dir = e->temp_dir;
    o.status = say;
    auto d = image::EncryptImage(*opened->source, **dst, list, o);
    if (!d.ok()) return Fail("encrypt " + e->src + ": " + d.error().message);
    std::cout << d->str() << "\n";
  });

  struct DecryptArgs {
    std::string src, dst, temp_dir;
    KeyFlags keys;
    RegistryFlags reg;
  };
  auto d = std::make_shared<DecryptArgs>();
  auto* decrypt = image->add_subcommand(
      "decrypt",
      "decrypt every encrypted layer (HMAC and digest checked) and write the image to DST\n"
      "  coco image decrypt docker://127.0.0.1:5000/app:enc oci:./plain:v1 --decryption-key "
      "key.pem\n"
      "  coco image decrypt docker://127.0.0.1:5000/app:kbs oci:./plain --kbs "
      "http://127.0.0.1:8080");
  decrypt->add_option("SRC", d->src, "image location to read")->required();
  decrypt->add_option("DST", d->dst, "image location to write")->required();
  decrypt->add_option("--temp-dir", d->temp_dir, "where decrypted layers are staged ($TMPDIR)");
  AddKeyFlags(decrypt, &d->keys);
  AddRegistryFlags(decrypt, &d->reg);
  decrypt->callback([d] {
    ProgressPrinter printer;
    auto broker = BrokerFetcher(d->keys);
    auto keys = MakeLayerKeys(d->keys, broker);
    if (!keys.ok()) return Fail(keys.error().message);
    if (!*keys) return Fail("give --decryption-key FILE and/or --kbs URL");
    auto opened = OpenSource(d->src, d->reg, broker);
    if (!opened.ok()) return Fail(opened.error().message);
    auto dst = OpenDestination(d->dst, opened->reg.get());
    if (!dst.ok()) return Fail(dst.error().message);
    image::CryptOptions o;
    o.temp_dir = d->temp_dir;
    o.status = [&](const std::string& s) { printer.Status(s); };
    auto r = image::DecryptImage(*opened->source, **dst, **keys, o);
    if (!r.ok()) return Fail("decrypt " + d->src + ": " + r.error().message);
    std::cout << r->str() << "\n";
  });
}

}  // namespace coco::cli
