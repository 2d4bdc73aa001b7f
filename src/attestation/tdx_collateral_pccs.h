// TDX collateral fetched from a PCCS (or Intel's PCS) over its v4 API. A library of its own
// (coco_attestation_pccs, over net/http_client.h): only the broker and the CLI fetch collateral.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "attestation/tdx_collateral.h"
#include "net/http_client.h"

namespace coco::attestation {

struct PccsOptions {
  std::string url;                    // e.g. https://pccs.example:8081 (the API paths are added)
  std::vector<std::string> ca_files;  // PEM CAs for a PCCS with its own TLS certificate
  int cache_seconds = 3600;           // how long fetched collateral is used before refetching
  net::ProxyConfig proxy;             // none by default (the tools take the environment's)
};

// Collateral is fetched on first use per platform and kept for cache_seconds; what is fetched is
// checked exactly as a directory's (signatures, chains to Intel's root, CRLs).
Result<std::unique_ptr<TdxCollateralSource>> NewTdxCollateralPccs(PccsOptions o,
                                                                  TdxCollateralOptions co);

}  // namespace coco::attestation
