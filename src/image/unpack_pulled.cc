#include "image/puller.h"
#include "oci/unpack.h"

namespace coco::image {

Result<oci::UnpackStats> UnpackPulled(const PulledImage& image, const oci::ContentStore& store,
                                      const std::string& root, const oci::UnpackOptions& options) {
  std::vector<oci::LayerSource> layers;
  for (const auto& l : image.layers) {
    oci::Digest stored = l.stored;
    layers.push_back(
        {[&store, stored] { return store.OpenBlob(stored); }, l.media_type, l.diff_id.str()});
  }
  return oci::UnpackImage(layers, root, options);
}

}  // namespace coco::image
