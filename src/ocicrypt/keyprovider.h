// The ocicrypt key-provider command protocol: one JSON request on stdin, one JSON answer on
// stdout.
//   {"op":"keywrap","keywrapparams":{"ec":{"Parameters":{NAME:[b64 params]},"DecryptConfig":…},
//                                    "optsdata":<private options>}}
//     → {"keywrapresults":{"annotation":<packet bytes>}}
//   {"op":"keyunwrap","keyunwrapparams":{"dc":{"Parameters":{NAME:[b64]}},"annotation":<bytes>}}
//     → {"keyunwrapresults":{"optsdata":<private options>}}
// Byte fields arrive as base64 strings (Go ocicrypt) or JSON integer arrays (Rust ocicrypt-rs,
// which also sends keywrap "optsdata" as the raw JSON text); all three are accepted. Answers
// carry integer arrays, which ocicrypt-rs requires and Go's encoding/json also reads.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"

namespace coco::ocicrypt {

struct KeyProviderRequest {
  enum class Op { kWrap, kUnwrap } op = Op::kWrap;
  // ec.Parameters (wrap) or dc.Parameters (unwrap): provider name → parameter strings.
  std::map<std::string, std::vector<std::string>> parameters;
  SecretBytes optsdata;  // wrap: the private options to wrap
  Bytes annotation;      // unwrap: the packet to open
};

Result<KeyProviderRequest> ParseKeyProviderRequest(std::string_view json);
std::string KeyWrapAnswer(const Bytes& annotation);
std::string KeyUnwrapAnswer(const SecretBytes& optsdata);

// Parameters after "provider:NAME:": either a bare key id ("kbs:///repo/type/tag") or
// "::"-separated key=value pairs: keyid=…, keypath=FILE (a raw 32-byte key-encryption key),
// algorithm=A256GCM|A256CTR, kbs=URL, admin-token=FILE.
struct ProviderParams {
  std::string keyid, keypath, algorithm = "A256GCM", kbs, admin_token;
};
Result<ProviderParams> ParseProviderParams(std::string_view text);

}  // namespace coco::ocicrypt
