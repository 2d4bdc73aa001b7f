// LayerKeys over ocicrypt: a layer's key is unwrapped from its annotations by the first key
// scheme that opens it (JWE private keys, key-provider packets with KEKs from a key broker).
#pragma once

#include <memory>
#include <vector>

#include "image/puller.h"
#include "ocicrypt/keywrap.h"

namespace coco::image {

std::unique_ptr<LayerKeys> NewOcicryptLayerKeys(
    std::vector<std::unique_ptr<ocicrypt::KeyUnwrapper>> unwrappers);

}  // namespace coco::image
