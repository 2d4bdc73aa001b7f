// coco keyprovider: the ocicrypt key-provider command protocol (one JSON request on stdin, one
// JSON answer on stdout), so ocicrypt-based tools encrypt and decrypt through coco's key broker.
#include <cstdlib>
#include <iostream>
#include <iterator>

#include "base/file.h"
#include "cli/commands.h"
#include "cli/image_common.h"
#include "crypto/crypto.h"
#include "kbsclient/admin.h"
#include "kbsclient/kbs_client.h"
#include "ocicrypt/keyprovider.h"
#include "ocicrypt/provider_packet.h"

namespace coco::cli {

constexpr size_t kMaxKeyProviderRequest = 1 << 20;
namespace {

struct ProviderFlags {
  std::vector<std::string> names = {"coco", "attestation-agent"};
  std::string kbs, admin_token, kbs_ca, keypath;
  bool allow_ctr = false;
};

constexpr char kCtrRefused[] =
    "A256CTR key wrapping has no integrity (a host that alters the packet can learn the layer "
    "key); refused unless --allow-ctr-key-wrap is given";

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// Our entry among the request's parameters (ocicrypt passes every recipient's parameters).
Result<ocicrypt::ProviderParams> OurParams(const ocicrypt::KeyProviderRequest& req,
                                           const ProviderFlags& f) {
  for (const std::string& name : f.names) {
    auto it = req.parameters.find(name);
    if (it == req.parameters.end()) continue;
    if (it->second.empty()) return ocicrypt::ProviderParams();
    return ocicrypt::ParseProviderParams(it->second.front());
  }
  return ocicrypt::ProviderParams();
}

Result<std::string> Wrap(const ocicrypt::KeyProviderRequest& req, const ProviderFlags& f) {
  COCO_ASSIGN_OR_RETURN(ocicrypt::ProviderParams p, OurParams(req, f));
  std::string keypath = p.keypath.empty() ? f.keypath : p.keypath;
  std::string kbs = !p.kbs.empty() ? p.kbs : !f.kbs.empty() ? f.kbs : Env("COCO_KBS_URL");
  std::string token = !p.admin_token.empty()   ? p.admin_token
                      : !f.admin_token.empty() ? f.admin_token
                                               : Env("COCO_KBS_ADMIN_TOKEN");
  SecretBytes kek;
  if (!keypath.empty()) {
    COCO_ASSIGN_OR_RETURN(kek, ocicrypt::LoadKek(keypath));
    if (p.keyid.empty()) {
      return MakeError(Code::kInvalidArgument,
                       "keyid=kbs:///REPO/TYPE/TAG is required with keypath");
    }
  } else {
    if (kbs.empty() || token.empty()) {
      return MakeError(Code::kInvalidArgument,
                       "no key-encryption key: give keypath=FILE, or a broker (kbs=URL and "
                       "admin-token=FILE, or COCO_KBS_URL and COCO_KBS_ADMIN_TOKEN) to store a "
                       "fresh one");
    }
    if (!p.keyid.empty()) {
      // ocicrypt calls once per layer: a fresh key under one fixed id would replace the key of
      // the layers wrapped before.
      return MakeError(Code::kInvalidArgument,
                       "keyid=" + p.keyid +
                           " with a broker-generated key would be replaced at every layer; give "
                           "keypath=FILE as well, or omit keyid to get one id per layer");
    }
    p.keyid = "kbs:///default/image-kek/" + HexEncode(crypto::RandomBytes(16));
    kek = SecretBytes(crypto::RandomBytes(32));
  }
  if (p.algorithm == "A256CTR" && !f.allow_ctr) return MakeError(Code::kUnimplemented, kCtrRefused);
  COCO_ASSIGN_OR_RETURN(std::string path, kbsclient::ParseResourcePath(p.keyid));
  p.keyid = "kbs:///" + path;
  if (!kbs.empty() && !token.empty()) {
    COCO_RETURN_IF_ERROR(kbsclient::SetResource(
        {kbs, token, f.kbs_ca, net::ProxyConfigFromEnvironment()}, p.keyid, ToString(kek.bytes())));
  }
  COCO_ASSIGN_OR_RETURN(ocicrypt::ProviderPacket packet,
                        ocicrypt::WrapWithKek(p.keyid, kek, req.optsdata, p.algorithm));
  return ocicrypt::KeyWrapAnswer(ToBytes(ocicrypt::SerializeProviderPacket(packet)));
}

Result<std::string> Unwrap(const ocicrypt::KeyProviderRequest& req, const ProviderFlags& f) {
  COCO_ASSIGN_OR_RETURN(ocicrypt::ProviderPacket packet,
                        ocicrypt::ParseProviderPacket(req.annotation));
  if (packet.provider != "kbs") {
    return MakeError(Code::kUnimplemented, "key id " + packet.kid + ": key provider \"" +
                                               packet.provider +
                                               "\" is not supported (only \"kbs\")");
  }
  if (packet.wrap_type == "A256CTR" && !f.allow_ctr) {
    return MakeError(Code::kUnimplemented, "key id " + packet.kid + ": " + kCtrRefused);
  }
  auto p = OurParams(req, f);  // dc parameters are often a plain flag ("Enabled"): optional
  ocicrypt::ProviderParams params = p.ok() ? *p : ocicrypt::ProviderParams();
  std::string keypath = params.keypath.empty() ? f.keypath : params.keypath;
  std::string kbs = !params.kbs.empty() ? params.kbs : !f.kbs.empty() ? f.kbs : Env("COCO_KBS_URL");
  SecretBytes kek;
  if (!keypath.empty()) {
    COCO_ASSIGN_OR_RETURN(kek, ocicrypt::LoadKek(keypath));
  } else if (!kbs.empty()) {
    KeyFlags kf;
    kf.kbs = kbs;
    kf.kbs_ca = f.kbs_ca;
    auto got = BrokerFetcher(kf)(packet.kid);
    if (!got.ok()) {
      return Annotate(got.error(), "key id " + packet.kid);
    }
    kek = std::move(got).value();
  } else {
    return MakeError(Code::kInvalidArgument,
                     "key id " + packet.kid +
                         ": no key source; give --kbs URL (or COCO_KBS_URL) "
                         "or --keypath FILE");
  }
  auto opts = ocicrypt::UnwrapWithKek(packet, kek);
  if (!opts.ok()) {
    return Annotate(opts.error(), "key id " + packet.kid);
  }
  return ocicrypt::KeyUnwrapAnswer(*opts);
}

}  // namespace

void AddKeyProviderCommand(CLI::App& app) {
  auto f = std::make_shared<ProviderFlags>();
  auto* kp = app.add_subcommand(
      "keyprovider",
      "ocicrypt key provider: reads one keywrap/keyunwrap request (JSON) on stdin, answers on "
      "stdout\n"
      "Use it from an OCICRYPT_KEYPROVIDER_CONFIG file:\n"
      "  {\"key-providers\":{\"coco\":{\"cmd\":{\"path\":\"/usr/bin/coco\",\"args\":"
      "[\"keyprovider\",\"--kbs\",\"http://127.0.0.1:8080\",\"--admin-token\",\"/etc/coco/"
      "admin-token\"]}}}}\n"
      "  skopeo copy --encryption-key provider:coco:keyid=kbs:///default/key/app::keypath=kek.bin "
      "oci:plain docker://HOST/app:enc\n"
      "Wrap parameters (after provider:coco:): keyid=kbs:///R/T/G, keypath=FILE (32-byte KEK), "
      "algorithm=A256GCM|A256CTR, kbs=URL, admin-token=FILE.\nWithout keypath a fresh KEK per "
      "layer is stored in the broker under kbs:///default/image-kek/<random>.\nUnwrap fetches "
      "the packet's kid from the broker after attestation (sample TEE), or reads --keypath.");
  kp->add_option("--name", f->names,
                 "provider names to read parameters from (default: coco attestation-agent)");
  kp->add_option("--kbs", f->kbs, "broker URL (env COCO_KBS_URL)");
  kp->add_option("--admin-token", f->admin_token,
                 "admin JWT file, to store new KEKs (env COCO_KBS_ADMIN_TOKEN)");
  kp->add_option("--kbs-cert", f->kbs_ca, "PEM CA certificate for an https broker");
  kp->add_option("--keypath", f->keypath, "32-byte key-encryption key file");
  kp->add_flag("--allow-ctr-key-wrap", f->allow_ctr,
               "accept algorithm=A256CTR / A256CTR packets (no integrity; refused by default)");
  kp->callback([f] {
    // A request is a few kilobytes; whoever writes to our stdin gets no more than the limit.
    std::string input;
    char buf[8192];
    while (std::cin.read(buf, sizeof buf) || std::cin.gcount() > 0) {
      input.append(buf, static_cast<size_t>(std::cin.gcount()));
      if (input.size() > kMaxKeyProviderRequest)
        return Fail("key-provider request on stdin is over " +
                    std::to_string(kMaxKeyProviderRequest) + " bytes; refused");
    }
    auto req = ocicrypt::ParseKeyProviderRequest(input);
    if (!req.ok()) return Fail(req.error().message);
    auto answer =
        req->op == ocicrypt::KeyProviderRequest::Op::kWrap ? Wrap(*req, *f) : Unwrap(*req, *f);
    if (!answer.ok()) return Fail(answer.error().message);
    std::cout << *answer << std::flush;
  });
}

}  // namespace coco::cli
