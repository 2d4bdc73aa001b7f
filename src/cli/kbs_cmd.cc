// coco kbs ...: administration of a coco-kbs (or Trustee KBS) broker over its admin API.
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "base/file.h"
#include "cli/commands.h"
#include "crypto/crypto.h"
#include "kbsclient/admin.h"
#include "kbsclient/kbs_client.h"

namespace coco::cli {
namespace {

struct AdminOptions {
  std::string url = "http://127.0.0.1:8080";
  std::string token_file;
  std::string ca_cert;
};

// Sends one admin request; prints the broker's error and sets the exit code on failure.
// Returns the response body on success.
std::optional<std::string> AdminCall(const AdminOptions& o, const std::string& method,
                                     const std::string& path, const std::string& body) {
  if (o.token_file.empty()) {
    Fail("--admin-token FILE is required (coco-kbs init writes DATA_DIR/admin-token)");
    return std::nullopt;
  }
  auto r = kbsclient::AdminRequest(
      {o.url, o.token_file, o.ca_cert, net::ProxyConfigFromEnvironment()}, method, path, body);
  if (!r.ok()) {
    Fail(r.error().message);
    return std::nullopt;
  }
  return *r;
}

std::optional<std::string> ResourcePath(const std::string& p) {
  auto parsed = kbsclient::ParseResourcePath(p);
  if (!parsed.ok()) {
    Fail(parsed.error().message);
    return std::nullopt;
  }
  return *parsed;
}

}  // namespace

void AddKbsCommands(CLI::App& app) {
  auto* kbs = app.add_subcommand("kbs", "administer a key broker (needs an admin token)");
  kbs->require_subcommand(1);
  auto o = std::make_shared<AdminOptions>();
  kbs->add_option("--kbs", o->url, "broker URL")->capture_default_str();
  kbs->add_option("--admin-token", o->token_file, "file holding the admin JWT");
  kbs->add_option("--kbs-cert", o->ca_cert, "PEM CA certificate to trust for an https broker");
  // The names these options had before every subcommand spelled them alike.
  kbs->add_option("--url", o->url)->group("");
  kbs->add_option("--cert-file", o->ca_cert)->group("");

  {
    auto path = std::make_shared<std::string>();
    auto file = std::make_shared<std::string>();
    auto* c = kbs->add_subcommand("set-resource",
                                  "store a resource; its bytes come from FILE or stdin (-)\n"
                                  "  coco kbs ... set-resource default/key/1 key.bin");
    c->add_option("path", *path, "REPO/TYPE/TAG (or kbs:///REPO/TYPE/TAG)")->required();
    c->add_option("file", *file, "file with the resource bytes, - for stdin")->required();
    c->callback([o, path, file] {
      auto p = ResourcePath(*path);
      if (!p) return;
      auto data = ReadInput(*file);
      if (!data.ok()) return Fail(data.error().message);
      if (AdminCall(*o, "POST", "/kbs/v0/resource/" + *p, *data))
        std::cerr << "stored " << *p << " (" << data->size() << " bytes)\n";
    });
  }
  {
    auto path = std::make_shared<std::string>();
    auto* c = kbs->add_subcommand("delete-resource", "delete a resource");
    c->add_option("path", *path, "REPO/TYPE/TAG")->required();
    c->callback([o, path] {
      auto p = ResourcePath(*path);
      if (!p) return;
      if (AdminCall(*o, "DELETE", "/kbs/v0/resource/" + *p, ""))
        std::cerr << "deleted " << *p << "\n";
    });
  }
  {
    auto file = std::make_shared<std::string>();
    auto* c = kbs->add_subcommand(
        "set-resource-policy",
        "set the resource policy from a Rego file (see `coco-kbs show-policy affirming`)");
    c->add_option("file", *file, "Rego file, - for stdin")->required();
    c->callback([o, file] {
      auto text = ReadInput(*file);
      if (!text.ok()) return Fail(text.error().message);
      nlohmann::json body = {{"policy", Base64UrlEncode(*text)}};
      if (AdminCall(*o, "POST", "/kbs/v0/resource-policy", body.dump()))
        std::cerr << "resource policy set\n";
    });
  }
  {
    auto file = std::make_shared<std::string>();
    auto id = std::make_shared<std::string>("default_cpu");
    auto* c = kbs->add_subcommand(
        "set-attestation-policy",
        "set an attestation policy from a Rego file (see `coco-kbs show-policy default_cpu`)");
    c->add_option("file", *file, "Rego file, - for stdin")->required();
    c->add_option("--id", *id, "policy id")->capture_default_str();
    c->callback([o, file, id] {
      auto text = ReadInput(*file);
      if (!text.ok()) return Fail(text.error().message);
      nlohmann::json body = {
          {"type", "rego"}, {"policy_id", *id}, {"policy", Base64UrlEncode(*text)}};
      if (AdminCall(*o, "POST", "/kbs/v0/attestation-policy", body.dump()))
        std::cerr << "attestation policy " << *id << " set\n";
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto value = std::make_shared<std::string>();
    auto as_int = std::make_shared<bool>(false);
    auto as_bool = std::make_shared<bool>(false);
    auto single = std::make_shared<bool>(false);
    auto* c = kbs->add_subcommand(
        "set-reference-value",
        "register a sample reference value (wrapped in a list unless --as-single-value)\n"
        "  coco kbs ... set-reference-value launch_digest abcde");
    c->add_option("name", *name, "reference value name")->required();
    c->add_option("value", *value, "value (a string unless --as-integer / --as-bool)")->required();
    c->add_flag("--as-integer", *as_int, "send the value as a JSON integer");
    c->add_flag("--as-bool", *as_bool, "send the value as a JSON boolean");
    c->add_flag("--as-single-value", *single, "do not wrap the value in a list");
    c->callback([o, name, value, as_int, as_bool, single] {
      nlohmann::json v = *value;
      if (*as_int) {
        try {
          size_t idx = 0;
          long long n = std::stoll(*value, &idx);
          if (idx != value->size()) throw std::invalid_argument("trailing");
          v = n;
        } catch (...) {
          return Fail("value \"" + *value + "\" is not an integer");
        }
      } else if (*as_bool) {
        if (*value != "true" && *value != "false")
          return Fail("value \"" + *value + "\" is not true or false");
        v = *value == "true";
      }
      if (!*single) v = nlohmann::json::array({v});
      nlohmann::json payload = {{*name, v}};
      nlohmann::json msg = {{"version", "0.1.0"},
                            {"type", "sample"},
                            {"payload", Base64Encode(ToBytes(payload.dump()))}};
      if (AdminCall(*o, "POST", "/kbs/v0/reference-value", msg.dump()))
        std::cerr << "reference value " << *name << " = " << v.dump() << "\n";
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* c = kbs->add_subcommand("get-reference-value", "print a reference value as JSON");
    c->add_option("name", *name, "reference value name")->required();
    c->callback([o, name] {
      if (auto body = AdminCall(*o, "GET", "/kbs/v0/reference-value/" + *name, ""))
        std::cout << *body << "\n";
    });
  }
  {
    auto dir = std::make_shared<std::string>();
    auto days = std::make_shared<int>(365);
    auto role = std::make_shared<std::string>("admin");
    auto* c = kbs->add_subcommand(
        "keygen",
        "create an admin key pair and token in DIR (admin-key.pem, admin-key.pub.pem, "
        "admin-token);\nlist admin-key.pub.pem in the broker's [admin] public_keys");
    c->add_option("--out-dir", *dir, "directory to write")->required();
    c->add_option("--role", *role, "role claim of the token")->capture_default_str();
    c->add_option("--token-days", *days, "token validity in days")->capture_default_str();
    c->callback([dir, days, role] {
      if (auto s = MakeDirs(*dir, 0700); !s.ok()) return Fail(s.error().message);
      auto key = crypto::Key::GenerateEd25519();
      if (!key.ok()) return Fail(key.error().message);
      auto now = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
      auto token = kbsclient::MakeAdminToken(*key, *role, now, int64_t{*days} * 86400);
      auto priv = key->PrivatePem();
      auto pub = key->PublicPem();
      if (!token.ok() || !priv.ok() || !pub.ok()) return Fail("cannot create the admin key");
      for (auto [path, data, mode] : {std::tuple{*dir + "/admin-key.pem", *priv, 0600u},
                                      std::tuple{*dir + "/admin-key.pub.pem", *pub, 0644u},
                                      std::tuple{*dir + "/admin-token", *token + "\n", 0600u}}) {
        if (auto s = WriteFileAtomic(path, data, mode); !s.ok()) return Fail(s.error().message);
      }
      std::cerr << "wrote " << *dir << "/admin-key.pem, admin-key.pub.pem, admin-token\n";
    });
  }
}

}  // namespace coco::cli
