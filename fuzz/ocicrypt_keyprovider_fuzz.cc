// The key-provider protocol request (src/ocicrypt/keyprovider.h) and provider parameters, as
// `coco keyprovider` reads them from stdin.
// Invariants: parsing never throws; a parsed wrap request's answer, parsed back as JSON, carries
// the same bytes as integer arrays.
#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "ocicrypt/keyprovider.h"

namespace ocicrypt = coco::ocicrypt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = coco::fuzz::AsString(data, size);
  auto req = ocicrypt::ParseKeyProviderRequest(text);
  if (req.ok()) {
    const coco::Bytes& payload = req->op == ocicrypt::KeyProviderRequest::Op::kWrap
                                     ? req->optsdata.bytes()
                                     : req->annotation;
    std::string answer = req->op == ocicrypt::KeyProviderRequest::Op::kWrap
                             ? ocicrypt::KeyWrapAnswer(payload)
                             : ocicrypt::KeyUnwrapAnswer(coco::SecretBytes(payload));
    auto j = nlohmann::json::parse(answer);
    const auto& arr = req->op == ocicrypt::KeyProviderRequest::Op::kWrap
                          ? j["keywrapresults"]["annotation"]
                          : j["keyunwrapresults"]["optsdata"];
    FUZZ_CHECK(arr.is_array() && arr.size() == payload.size());
    for (const auto& [name, values] : req->parameters) {
      for (const std::string& v : values) (void)ocicrypt::ParseProviderParams(v);
    }
  } else {
    FUZZ_CHECK(!req.error().message.empty());
  }
  (void)ocicrypt::ParseProviderParams(text.substr(0, 512));
  return 0;
}
