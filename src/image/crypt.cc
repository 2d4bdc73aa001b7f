#include "image/crypt.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/bytes.h"
#include "crypto/crypto.h"
#include "oci/digest_check.h"
#include "ocicrypt/layer_cipher.h"
#include "ocicrypt/layer_keys.h"
#include "ocicrypt/options.h"

namespace coco::image {
namespace {

// An unlinked-on-destruction temporary file: written through Write(), then read back.
class TempFile : public Writer {
 public:
  static Result<std::unique_ptr<TempFile>> Create(const std::string& dir) {
    std::string base = dir;
    if (base.empty()) {
      const char* t = std::getenv("TMPDIR");
      base = (t && *t) ? t : "/tmp";
    }
    std::string path = base + "/coco-layer-XXXXXX";
    int fd = ::mkstemp(path.data());
    if (fd < 0) {
      return MakeError(Code::kIo,
                       "cannot create a temporary file in " + base + ": " + std::strerror(errno));
    }
    return std::unique_ptr<TempFile>(new TempFile(fd, path));
  }
  ~TempFile() override {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  Status Write(const uint8_t* p, size_t n) override {
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return MakeError(Code::kIo, "cannot write " + path_ + ": " + std::strerror(errno));
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    return Status::Ok();
  }
  Result<std::unique_ptr<Reader>> Reopen() { return OpenFileReader(path_); }

 private:
  TempFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

const char* kDockerForeignGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

// The OCI media type of a layer (Docker types mapped to their OCI equivalents).
Result<std::string> OciLayerType(const std::string& mt) {
  if (mt == oci::media::kDockerLayerGzip) return std::string(oci::media::kOciLayerGzip);
  if (mt == kDockerForeignGzip) {
    return std::string("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip");
  }
  if (mt.rfind("application/vnd.oci.image.layer.", 0) == 0) return mt;
  return MakeError(Code::kUnimplemented, "layer media type " + mt + " cannot be encrypted");
}

struct Loaded {
  oci::FetchedManifest fetched;
  oci::Manifest manifest;
};

Result<Loaded> Load(oci::ImageSource& src, const CryptOptions& o) {
  Loaded l;
  COCO_ASSIGN_OR_RETURN(l.fetched, oci::ResolveManifest(src, o.os, o.architecture));
  COCO_ASSIGN_OR_RETURN(l.manifest, oci::Manifest::Parse(l.fetched.bytes, l.fetched.media_type));
  return l;
}

// Copies a blob unchanged (skipped if the destination has it), digest-checked.
Status CopyBlob(oci::ImageSource& src, oci::ImageDestination& dst, const oci::Descriptor& d,
                const CryptOptions& o) {
  COCO_ASSIGN_OR_RETURN(bool has, dst.HasBlob(d.digest));
  if (has) return Status::Ok();
  COCO_ASSIGN_OR_RETURN(auto tmp, TempFile::Create(o.temp_dir));
  oci::DigestCheck check(tmp.get(), d.digest, d.size, "blob " + d.digest.str());
  COCO_RETURN_IF_ERROR(src.FetchBlob(d, check));
  COCO_RETURN_IF_ERROR(check.Close());
  COCO_ASSIGN_OR_RETURN(auto reader, tmp->Reopen());
  return dst.PutBlob(d, *reader);
}

Result<oci::Digest> WriteManifest(oci::ImageDestination& dst, const oci::Manifest& m) {
  std::string bytes = m.Serialize();
  COCO_RETURN_IF_ERROR(dst.PutManifest(m.media_type, bytes));
  return oci::Digest::Sha256Of(bytes);
}

// "layer 2/3 sha256:0123456789ab" for progress lines and errors.
std::string LayerLabel(size_t i, size_t n, const oci::Digest& d) {
  return "layer " + std::to_string(i + 1) + "/" + std::to_string(n) + " " + d.str().substr(0, 19);
}

void Say(const CryptOptions& o, const std::string& s) {
  if (o.status) o.status(s);
}

}  // namespace

Result<oci::Digest> EncryptImage(oci::ImageSource& src, oci::ImageDestination& dst,
                                 const std::vector<ocicrypt::KeyWrapper*>& wrappers,
                                 const CryptOptions& options) {
  if (wrappers.empty()) return MakeError(Code::kInvalidArgument, "encryption needs a recipient");
  COCO_ASSIGN_OR_RETURN(Loaded in, Load(src, options));
  oci::Manifest out = in.manifest;
  out.media_type = oci::media::kOciManifest;
  if (out.config.media_type == oci::media::kDockerConfig) {
    out.config.media_type = oci::media::kOciConfig;
  }
  COCO_RETURN_IF_ERROR(CopyBlob(src, dst, in.manifest.config, options));
  for (size_t i = 0; i < out.layers.size(); ++i) {
    oci::Descriptor& layer = out.layers[i];
    std::string label = LayerLabel(i, out.layers.size(), layer.digest);
    if (!PlainMediaType(layer.media_type).empty()) {
      return MakeError(Code::kInvalidArgument,
                       label + " is already encrypted (" + layer.media_type +
                           "); decrypt the image first to change recipients");
    }
    COCO_ASSIGN_OR_RETURN(std::string oci_type, OciLayerType(layer.media_type));
    ocicrypt::PrivateOptions priv = ocicrypt::NewPrivateOptions(layer.digest.str());
    COCO_ASSIGN_OR_RETURN(auto tmp, TempFile::Create(options.temp_dir));
    oci::DigestCheck cipher_hash(tmp.get(), std::nullopt, -1, "");
    COCO_ASSIGN_OR_RETURN(auto enc,
                          ocicrypt::LayerEncryptor::Create(priv.symkey, priv.nonce, cipher_hash));
    oci::DigestCheck plain_check(enc.get(), layer.digest, layer.size, label);
    COCO_RETURN_IF_ERROR(src.FetchBlob(in.manifest.layers[i], plain_check));
    COCO_RETURN_IF_ERROR(plain_check.Close());
    ocicrypt::PublicOptions pub;
    pub.hmac = enc->hmac();
    COCO_ASSIGN_OR_RETURN(auto ann, ocicrypt::EncryptionAnnotations(priv, pub, wrappers));
    layer.media_type = oci_type + "+encrypted";
    layer.digest = cipher_hash.digest();
    layer.size = static_cast<int64_t>(cipher_hash.size());
    for (auto& [k, v] : ann) layer.annotations[k] = v;
    COCO_ASSIGN_OR_RETURN(auto reader, tmp->Reopen());
    COCO_RETURN_IF_ERROR(dst.PutBlob(layer, *reader));
    Say(options, label + " encrypted → " + layer.digest.str().substr(0, 19));
  }
  COCO_ASSIGN_OR_RETURN(oci::Digest d, WriteManifest(dst, out));
  Say(options, "manifest " + d.str());
  return d;
}

Result<oci::Digest> DecryptImage(oci::ImageSource& src, oci::ImageDestination& dst, LayerKeys& keys,
                                 const CryptOptions& options) {
  COCO_ASSIGN_OR_RETURN(Loaded in, Load(src, options));
  oci::Manifest out = in.manifest;
  COCO_RETURN_IF_ERROR(CopyBlob(src, dst, in.manifest.config, options));
  for (size_t i = 0; i < out.layers.size(); ++i) {
    oci::Descriptor& layer = out.layers[i];
    std::string label = LayerLabel(i, out.layers.size(), layer.digest);
    std::string plain_type = PlainMediaType(layer.media_type);
    if (plain_type.empty()) {
      COCO_RETURN_IF_ERROR(CopyBlob(src, dst, layer, options));
      Say(options, label + " copied (not encrypted)");
      continue;
    }
    auto dec = keys.Unwrap(layer);
    if (!dec.ok()) return Annotate(dec.error(), label);
    COCO_ASSIGN_OR_RETURN(auto tmp, TempFile::Create(options.temp_dir));
    oci::DigestCheck plain_check(tmp.get(), (*dec)->plaintext_digest(), -1, label + " plaintext");
    COCO_ASSIGN_OR_RETURN(auto decrypter, (*dec)->Decrypter(plain_check));
    oci::DigestCheck cipher_check(decrypter.get(), layer.digest, layer.size, label);
    COCO_RETURN_IF_ERROR(src.FetchBlob(in.manifest.layers[i], cipher_check));
    COCO_RETURN_IF_ERROR(cipher_check.Close());
    layer.media_type = plain_type;
    layer.digest = (*dec)->plaintext_digest();
    layer.size = static_cast<int64_t>(plain_check.size());
    layer.annotations = ocicrypt::WithoutEncryptionAnnotations(layer.annotations);
    COCO_ASSIGN_OR_RETURN(auto reader, tmp->Reopen());
    COCO_RETURN_IF_ERROR(dst.PutBlob(layer, *reader));
    Say(options, label + " decrypted → " + layer.digest.str().substr(0, 19));
  }
  COCO_ASSIGN_OR_RETURN(oci::Digest d, WriteManifest(dst, out));
  Say(options, "manifest " + d.str());
  return d;
}

}  // namespace coco::image
