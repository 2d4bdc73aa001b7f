// coco attest / coco get-resource: act as a guest, with the sample attester or a TPM.
#include <unistd.h>

#include <iostream>

#include "attestation/attester.h"
#include "attestation/tpm_attester.h"
#include "base/file.h"
#include "cli/commands.h"
#include "kbsclient/kbs_client.h"

namespace coco::cli {
namespace {

struct GuestOptions {
  std::string url = "http://127.0.0.1:8080";
  std::string ca_cert;
  std::string init_data;
  std::string tee = "sample";
  std::string tpm_tcti = "device:/dev/tpmrm0";
};

void AddCommon(CLI::App* cmd, GuestOptions* o) {
  cmd->add_option("--kbs", o->url, "broker URL")->capture_default_str();
  cmd->add_option("--kbs-cert", o->ca_cert, "PEM CA certificate to trust for an https broker");
  // The names these options had before every subcommand spelled them alike.
  cmd->add_option("--url", o->url)->group("");
  cmd->add_option("--cert-file", o->ca_cert)->group("");
  cmd->add_option("--init-data", o->init_data, "init-data TOML file sent with the evidence");
  cmd->add_option("--tee", o->tee,
                  "the evidence: sample (proves nothing; --dev brokers only) or tpm (a TPM 2.0 "
                  "quote)")
      ->check(CLI::IsMember({"sample", "tpm"}))
      ->capture_default_str();
  cmd->add_option("--tpm-tcti", o->tpm_tcti,
                  "the TPM to quote with, as a TSS2 TCTI (device:/dev/tpmrm0, "
                  "swtpm:host=127.0.0.1,port=2321, ...)")
      ->capture_default_str();
}

Result<std::unique_ptr<kbsclient::KbsClient>> MakeClient(const GuestOptions& o) {
  kbsclient::KbsClientOptions ko;
  ko.url = o.url;
  ko.ca_cert = o.ca_cert;
  ko.proxy = net::ProxyConfigFromEnvironment();
  if (!o.init_data.empty()) {
    COCO_ASSIGN_OR_RETURN(std::string text, ReadFile(o.init_data));
    ko.init_data_toml = text;
  }
  if (o.tee == "tpm") {
    attestation::TpmAttesterOptions to;
    to.tcti = o.tpm_tcti;
    return kbsclient::KbsClient::Create(ko, attestation::NewTpmAttester(to));
  }
  return kbsclient::KbsClient::Create(ko, attestation::NewSampleAttester());
}

}  // namespace

void AddGuestCommands(CLI::App& app) {
  auto o = std::make_shared<GuestOptions>();
  auto* attest =
      app.add_subcommand("attest",
                         "attest to the broker and print the attestation token (a JWT)\n"
                         "  coco attest --kbs http://127.0.0.1:8080 | cut -d. -f2 | base64 -d");
  AddCommon(attest, o.get());
  attest->callback([o] {
    auto client = MakeClient(*o);
    if (!client.ok()) return Fail(client.error().message);
    auto token = (*client)->Attest();
    if (!token.ok()) return Fail("attestation: " + token.error().message);
    std::cout << *token << "\n";
  });

  auto g = std::make_shared<GuestOptions>();
  auto path = std::make_shared<std::string>();
  auto* get = app.add_subcommand(
      "get-resource",
      "attest, fetch a resource and write its plaintext to stdout\n"
      "  coco get-resource --kbs http://127.0.0.1:8080 kbs:///default/key/1 > key.bin");
  AddCommon(get, g.get());
  get->add_option("resource", *path, "kbs:///<repo>/<type>/<tag>")->required();
  get->callback([g, path] {
    auto parsed = kbsclient::ParseResourcePath(*path);
    if (!parsed.ok()) return Fail(parsed.error().message);
    auto client = MakeClient(*g);
    if (!client.ok()) return Fail(client.error().message);
    auto secret = (*client)->GetResource(*path);
    if (!secret.ok()) return Fail("cannot get " + *path + ": " + secret.error().message);
    const Bytes& b = secret->bytes();
    size_t off = 0;
    while (off < b.size()) {
      ssize_t n = ::write(1, b.data() + off, b.size() - off);
      if (n <= 0) return Fail("cannot write to stdout");
      off += static_cast<size_t>(n);
    }
  });
}

}  // namespace coco::cli
