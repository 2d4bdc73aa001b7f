// Image-level encryption and decryption (what `coco image encrypt|decrypt` do): every layer is
// streamed through the ocicrypt layer cipher into a temporary file and then stored at the
// destination; the config is copied unchanged (diff_ids name the plaintext layers); the manifest
// is rewritten. Docker schema-2 images become OCI images, since Docker media types have no
// encrypted variants.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "image/puller.h"
#include "oci/transport.h"
#include "ocicrypt/keywrap.h"

namespace coco::image {

struct CryptOptions {
  std::string os = "linux";
  std::string architecture = "amd64";
  std::string temp_dir;  // empty: $TMPDIR or /tmp
  std::function<void(const std::string&)> status;
};

// Encrypts every layer for `wrappers` (each layer gets its own random key and nonce). A layer
// that is already encrypted is refused. Returns the digest of the manifest written to `dst`.
Result<oci::Digest> EncryptImage(oci::ImageSource& src, oci::ImageDestination& dst,
                                 const std::vector<ocicrypt::KeyWrapper*>& wrappers,
                                 const CryptOptions& options);

// Decrypts every encrypted layer with `keys` (HMAC and plaintext digest checked before the blob
// is stored); plain layers are copied. Returns the digest of the manifest written to `dst`.
Result<oci::Digest> DecryptImage(oci::ImageSource& src, oci::ImageDestination& dst,
                                 LayerKeys& keys, const CryptOptions& options);

}  // namespace coco::image
