#include "ocicrypt/keyprovider.h"

#include <nlohmann/json.hpp>

#include "base/json.h"

namespace coco::ocicrypt {
namespace {

using Json = nlohmann::json;

// A []byte field: base64 string, integer array, or (raw_ok) a raw JSON-object text.
Result<Bytes> ByteField(const Json& v, const std::string& where, bool raw_ok) {
  if (v.is_array()) {
    Bytes out;
    out.reserve(v.size());
    for (const Json& e : v) {
      if (!e.is_number_unsigned() || e.get<uint64_t>() > 255) {
        return MakeError(Code::kInvalidArgument, where + " is an array with a non-byte element");
      }
      out.push_back(static_cast<uint8_t>(e.get<uint64_t>()));
    }
    return out;
  }
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    auto b = Base64Decode(s);
    if (b.ok()) return std::move(b).value();
    if (raw_ok && !s.empty() && s.front() == '{') {
      return ToBytes(s);
    }
    return MakeError(Code::kInvalidArgument, where + " is neither base64 nor a byte array");
  }
  return MakeError(Code::kInvalidArgument, where + " must be a base64 string or a byte array");
}

Result<std::map<std::string, std::vector<std::string>>> ParamsOf(const Json& config,
                                                                 const std::string& where) {
  std::map<std::string, std::vector<std::string>> out;
  if (!config.is_object()) return out;
  auto p = config.find("Parameters");
  if (p == config.end() || p->is_null()) return out;
  if (!p->is_object()) {
    return MakeError(Code::kInvalidArgument, where + ".Parameters is not an object");
  }
  for (auto it = p->begin(); it != p->end(); ++it) {
    if (!it->is_array()) {
      return MakeError(Code::kInvalidArgument,
                       where + ".Parameters." + it.key() + " is not an array");
    }
    for (const Json& v : *it) {
      COCO_ASSIGN_OR_RETURN(Bytes b, ByteField(v, where + ".Parameters." + it.key(), false));
      out[it.key()].push_back(ToString(b));
    }
  }
  return out;
}

// Integer arrays: ocicrypt-rs reads only those, Go's encoding/json reads them as well.
Json Encode(const Bytes& b) {
  Json a = Json::array();
  for (uint8_t c : b) a.push_back(c);
  return a;
}

Result<KeyProviderRequest> ParseRequest(std::string_view text) {
  Json j = ParseJsonOrDiscarded(text);
  if (j.is_discarded() || !j.is_object()) {
    return MakeError(Code::kInvalidArgument, "key-provider request is not a JSON object");
  }
  KeyProviderRequest r;
  auto op_it = j.find("op");
  std::string op = op_it != j.end() && op_it->is_string() ? op_it->get<std::string>() : "";
  if (op == "keywrap") {
    r.op = KeyProviderRequest::Op::kWrap;
    auto params = j.find("keywrapparams");
    if (params == j.end() || !params->is_object()) {
      return MakeError(Code::kInvalidArgument, "keywrap request has no \"keywrapparams\" object");
    }
    if (params->contains("ec")) {
      COCO_ASSIGN_OR_RETURN(r.parameters, ParamsOf((*params)["ec"], "keywrapparams.ec"));
    }
    auto od = params->find("optsdata");
    if (od == params->end()) {
      return MakeError(Code::kInvalidArgument, "keywrap request has no \"optsdata\"");
    }
    COCO_ASSIGN_OR_RETURN(Bytes b, ByteField(*od, "keywrapparams.optsdata", true));
    r.optsdata = SecretBytes(std::move(b));
  } else if (op == "keyunwrap") {
    r.op = KeyProviderRequest::Op::kUnwrap;
    auto params = j.find("keyunwrapparams");
    if (params == j.end() || !params->is_object()) {
      return MakeError(Code::kInvalidArgument,
                       "keyunwrap request has no \"keyunwrapparams\" object");
    }
    if (params->contains("dc")) {
      COCO_ASSIGN_OR_RETURN(r.parameters, ParamsOf((*params)["dc"], "keyunwrapparams.dc"));
    }
    auto an = params->find("annotation");
    if (an == params->end()) {
      return MakeError(Code::kInvalidArgument, "keyunwrap request has no \"annotation\"");
    }
    COCO_ASSIGN_OR_RETURN(r.annotation, ByteField(*an, "keyunwrapparams.annotation", true));
  } else {
    return MakeError(Code::kInvalidArgument, "key-provider request \"op\" is \"" + op +
                                                 "\"; expected \"keywrap\" or \"keyunwrap\"");
  }
  return r;
}

}  // namespace

Result<KeyProviderRequest> ParseKeyProviderRequest(std::string_view text) {
  try {
    return ParseRequest(text);
  } catch (const Json::exception& e) {
    return MakeError(Code::kInvalidArgument,
                     std::string("malformed key-provider request: ") + e.what());
  }
}

std::string KeyWrapAnswer(const Bytes& annotation) {
  return Json{{"keywrapresults", {{"annotation", Encode(annotation)}}}}.dump();
}

std::string KeyUnwrapAnswer(const SecretBytes& optsdata) {
  return Json{{"keyunwrapresults", {{"optsdata", Encode(optsdata.bytes())}}}}.dump();
}

Result<ProviderParams> ParseProviderParams(std::string_view text) {
  ProviderParams p;
  size_t start = 0;
  if (text.rfind("kbs:", 0) == 0 || text.rfind("kbs+", 0) == 0) {
    // A bare key id, optionally followed by "::key=value" pairs.
    size_t end = text.find("::");
    p.keyid = std::string(text.substr(0, end));
    if (end == std::string_view::npos) return p;
    start = end + 2;
  }
  while (start < text.size()) {
    size_t end = text.find("::", start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(start, end - start);
    start = end + 2;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return MakeError(Code::kInvalidArgument,
                       "key-provider parameter \"" + std::string(item) + "\" is not key=value");
    }
    std::string key(item.substr(0, eq));
    std::string value(item.substr(eq + 1));
    if (key == "keyid") {
      p.keyid = value;
    } else if (key == "keypath") {
      p.keypath = value;
    } else if (key == "algorithm") {
      if (value != "A256GCM" && value != "A256CTR") {
        return MakeError(Code::kInvalidArgument,
                         "algorithm=" + value + " is not supported (A256GCM or A256CTR)");
      }
      p.algorithm = value;
    } else if (key == "kbs") {
      p.kbs = value;
    } else if (key == "admin-token") {
      p.admin_token = value;
    } else if (key == "sample") {
      return MakeError(Code::kInvalidArgument,
                       "sample=true (a fixed, public key) is not offered: it would encrypt "
                       "nothing; give keypath=FILE or kbs=URL");
    } else {
      return MakeError(Code::kInvalidArgument,
                       "unknown key-provider parameter \"" + key +
                           "\" (known: keyid, keypath, algorithm, kbs, admin-token)");
    }
  }
  return p;
}

}  // namespace coco::ocicrypt
