#include "image/puller.h"

#include <atomic>
#include <mutex>
#include <thread>

#include "base/bytes.h"
#include "crypto/crypto.h"
#include "oci/digest_check.h"

namespace coco::image {
namespace {

constexpr char kEncryptedSuffix[] = "+encrypted";

Status PullLayer(size_t index, oci::ImageSource& source, oci::ContentStore& store, LayerKeys* keys,
                 const PullOptions& options, PulledLayer& layer) {
  const oci::Descriptor& desc = layer.descriptor;
  std::string label = "layer " + std::to_string(index + 1) + " " + desc.digest.str().substr(0, 19);
  auto progress = [&](uint64_t done, uint64_t total) {
    if (options.progress) options.progress(index, done, total);
  };
  std::string plain = PlainMediaType(desc.media_type);
  if (plain.empty()) {
    layer.stored = desc.digest;
    layer.media_type = desc.media_type;
    // A blob that exists here only because a pull decrypted it is not used without its key:
    // it must come from the registry in the clear (which shows it is public).
    if (store.Has(desc.digest) && !store.IsPrivate(desc.digest)) {
      layer.cached = true;
      if (options.status) options.status(label + " cached");
      return Status::Ok();
    }
    COCO_ASSIGN_OR_RETURN(auto w, store.NewWriter(desc.digest, desc.size));
    COCO_RETURN_IF_ERROR(source.FetchBlob(desc, *w, progress));
    COCO_RETURN_IF_ERROR(w->Close());
    store.ClearPrivate(desc.digest);
    if (options.status) options.status(label + " pulled (" + std::to_string(desc.size) + " bytes)");
    return Status::Ok();
  }
  layer.encrypted = true;
  layer.media_type = plain;
  if (keys == nullptr) {
    return MakeError(Code::kKeyMissing, label + " is encrypted (" + desc.media_type +
                                            "); give --decryption-key FILE or --kbs URL");
  }
  // The key first, always: a cached plaintext never stands in for a key this pull lacks.
  auto dec_or = keys->Unwrap(desc);
  if (!dec_or.ok()) return Annotate(dec_or.error(), label);
  auto dec = std::move(dec_or).value();
  layer.stored = dec->plaintext_digest();
  if (store.Has(layer.stored)) {
    layer.cached = true;
    if (options.status) options.status(label + " key obtained; decrypted layer cached");
    return Status::Ok();
  }
  if (desc.digest.algorithm != "sha256") {
    return MakeError(Code::kInvalidArgument, label +
                                                 ": layer digests other than sha256 are not "
                                                 "supported for encrypted layers");
  }
  // Marked before the blob exists, so no window shows a decrypted blob as public.
  COCO_RETURN_IF_ERROR(store.MarkPrivate(layer.stored));
  COCO_ASSIGN_OR_RETURN(auto plain_writer, store.NewWriter(layer.stored, -1));
  COCO_ASSIGN_OR_RETURN(auto decrypter, dec->Decrypter(*plain_writer));
  // The ciphertext's own SHA-256 is not recomputed: its HMAC (keyed by the layer key, named in
  // the digest-checked manifest) is checked before the plaintext is committed, and the plaintext
  // is then checked against its digest from the wrapped key and later its diff_id. The size is
  // still enforced so a registry cannot stream forever.
  oci::SizeCheck check(decrypter.get(), desc.size, label + " ciphertext");
  Status fetched = source.FetchBlob(desc, check, progress);
  if (fetched.ok()) fetched = check.Close();
  if (!fetched.ok()) {
    return Annotate(fetched.error(), label);
  }
  if (options.status) {
    options.status(label + " pulled and decrypted (" + std::to_string(desc.size) + " bytes)");
  }
  return Status::Ok();
}

}  // namespace

std::string PlainMediaType(const std::string& media_type) {
  const std::string suffix = kEncryptedSuffix;
  if (media_type.size() <= suffix.size() ||
      media_type.compare(media_type.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return "";
  }
  return media_type.substr(0, media_type.size() - suffix.size());
}

Result<PulledImage> Pull(const oci::ImageLocation& location, oci::ImageSource& source,
                         oci::ContentStore& store, SignatureCheck* signatures, LayerKeys* keys,
                         const PullOptions& options) {
  PulledImage image;
  COCO_ASSIGN_OR_RETURN(image.manifest,
                        oci::ResolveManifest(source, options.os, options.architecture));
  COCO_ASSIGN_OR_RETURN(image.parsed,
                        oci::Manifest::Parse(image.manifest.bytes, image.manifest.media_type));
  if (options.status) options.status("manifest " + image.manifest.digest.str());
  if (signatures != nullptr) {
    COCO_RETURN_IF_ERROR(signatures->Verify(location, image.manifest, source));
    if (options.status) options.status("signature policy satisfied");
  }
  COCO_RETURN_IF_ERROR(store.PutBlob(image.manifest.bytes));

  const oci::Descriptor& cfg = image.parsed.config;
  if (cfg.size > (16 << 20)) return MakeError(Code::kTooLarge, "image config is over 16 MiB");
  if (!store.Has(cfg.digest)) {
    COCO_ASSIGN_OR_RETURN(auto w, store.NewWriter(cfg.digest, cfg.size));
    COCO_RETURN_IF_ERROR(source.FetchBlob(cfg, *w));
    COCO_RETURN_IF_ERROR(w->Close());
  }
  COCO_ASSIGN_OR_RETURN(image.config_bytes, store.ReadBlob(cfg.digest));
  COCO_ASSIGN_OR_RETURN(image.config, oci::ImageConfig::Parse(image.config_bytes));
  if (image.config.diff_ids.size() != image.parsed.layers.size()) {
    return MakeError(Code::kInvalidArgument,
                     "the manifest has " + std::to_string(image.parsed.layers.size()) +
                         " layers but the image config lists " +
                         std::to_string(image.config.diff_ids.size()) + " diff_ids");
  }
  for (size_t i = 0; i < image.parsed.layers.size(); ++i) {
    PulledLayer l;
    l.descriptor = image.parsed.layers[i];
    l.diff_id = image.config.diff_ids[i];
    image.layers.push_back(std::move(l));
  }

  // Bounded concurrency: workers take the next layer index until none is left or one fails.
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::optional<Error> first_error;
  auto worker = [&] {
    for (;;) {
      {
        std::lock_guard<std::mutex> l(mu);
        if (first_error) return;
      }
      size_t i = next++;
      if (i >= image.layers.size()) return;
      Status s = PullLayer(i, source, store, keys, options, image.layers[i]);
      if (!s.ok()) {
        std::lock_guard<std::mutex> l(mu);
        if (!first_error) first_error = s.error();
        return;
      }
    }
  };
  size_t n = std::min<size_t>(std::max(1, options.max_concurrent_layers), image.layers.size());
  std::vector<std::thread> threads;
  for (size_t t = 1; t < n; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (first_error) return *first_error;

  oci::ImageRecord record{
      location.ToString(), image.manifest.digest, {image.manifest.digest, cfg.digest}};
  for (const auto& l : image.layers) record.blobs.push_back(l.stored);
  COCO_RETURN_IF_ERROR(store.RecordImage(record));
  return image;
}

}  // namespace coco::image
