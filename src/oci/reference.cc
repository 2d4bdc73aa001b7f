#include "oci/reference.h"

#include <algorithm>
#include <cctype>

#include "base/bytes.h"
#include "crypto/crypto.h"

namespace coco::oci {
namespace {

constexpr std::string_view kForms =
    " (want docker://HOST[:PORT]/REPO[:TAG|@DIGEST] or oci:DIR[:TAG])";

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Repository path components: lowercase alphanumerics separated by '.', '_', '__' or '-'s.
bool ValidComponent(std::string_view c) {
  if (c.empty() || !std::isalnum(static_cast<unsigned char>(c.front())) ||
      !std::isalnum(static_cast<unsigned char>(c.back()))) {
    return false;
  }
  return std::all_of(c.begin(), c.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
           ch == '-';
  });
}

bool ValidTag(std::string_view t) {
  if (t.empty() || t.size() > 128 || t.front() == '.' || t.front() == '-') return false;
  return std::all_of(t.begin(), t.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-';
  });
}

bool ValidHost(std::string_view h) {
  if (h.empty()) return false;
  return std::all_of(h.begin(), h.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == ':' ||
           ch == '[' || ch == ']';
  });
}

}  // namespace

Result<Digest> Digest::Parse(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    return MakeError(Code::kInvalidArgument,
                     "digest \"" + std::string(text) + "\" has no algorithm (want sha256:<hex>)");
  }
  Digest d{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
  size_t want = d.algorithm == "sha256" ? 64 : d.algorithm == "sha512" ? 128 : 0;
  if (want == 0) {
    return MakeError(Code::kInvalidArgument, "digest \"" + std::string(text) +
                                                 "\" uses an unsupported algorithm (want sha256 or "
                                                 "sha512)");
  }
  if (d.hex.size() != want || !IsLowerHex(d.hex)) {
    return MakeError(Code::kInvalidArgument, "digest \"" + std::string(text) + "\" must have " +
                                                 std::to_string(want) + " lowercase hex digits");
  }
  return d;
}

Digest Digest::Sha256Of(std::string_view data) {
  return Digest{"sha256", HexEncode(crypto::Hash(crypto::HashAlg::kSha256, data))};
}

Result<ImageLocation> ImageLocation::Parse(std::string_view text) {
  ImageLocation loc;
  if (text.rfind("oci:", 0) == 0) {
    loc.transport = Transport::kOciLayout;
    std::string_view rest = text.substr(4);
    // The tag follows the last ':' unless that ':' is part of the path (a '/' after it).
    auto colon = rest.rfind(':');
    if (colon != std::string_view::npos && rest.find('/', colon) == std::string_view::npos) {
      loc.dir = std::string(rest.substr(0, colon));
      loc.tag = std::string(rest.substr(colon + 1));
      if (loc.tag.empty()) {
        return MakeError(
            Code::kInvalidArgument,
            "\"" + std::string(text) + "\" has an empty tag after ':'" + std::string(kForms));
      }
    } else {
      loc.dir = std::string(rest);
    }
    if (loc.dir.empty()) {
      return MakeError(Code::kInvalidArgument,
                       "\"" + std::string(text) + "\" names no directory" + std::string(kForms));
    }
    return loc;
  }
  if (text.rfind("docker://", 0) != 0) {
    return MakeError(Code::kInvalidArgument, "unsupported image location \"" + std::string(text) +
                                                 "\"" + std::string(kForms));
  }
  std::string_view rest = text.substr(9);
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    COCO_ASSIGN_OR_RETURN(Digest d, Digest::Parse(rest.substr(at + 1)));
    loc.digest = d.str();
    rest = rest.substr(0, at);
  }
  // A tag is after the last ':' that follows the last '/'.
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    loc.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!ValidTag(loc.tag)) {
      return MakeError(Code::kInvalidArgument,
                       "invalid tag \"" + loc.tag + "\" in \"" + std::string(text) + "\"");
    }
  }
  if (rest.empty()) {
    return MakeError(Code::kInvalidArgument,
                     "\"" + std::string(text) + "\" names no repository" + std::string(kForms));
  }
  // The first component is a registry host if it looks like one (has '.' or ':' or is localhost).
  std::string_view first = rest.substr(0, rest.find('/'));
  std::string_view repo = rest;
  if (rest.find('/') != std::string_view::npos &&
      (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
       first == "localhost")) {
    loc.registry = std::string(first);
    repo = rest.substr(first.size() + 1);
  } else {
    loc.registry = "docker.io";
  }
  if (!ValidHost(loc.registry)) {
    return MakeError(Code::kInvalidArgument, "invalid registry host \"" + loc.registry + "\"");
  }
  if (loc.registry == "docker.io" && repo.find('/') == std::string_view::npos) {
    loc.repository = "library/" + std::string(repo);
  } else {
    loc.repository = std::string(repo);
  }
  size_t start = 0;
  while (start <= loc.repository.size()) {
    size_t end = loc.repository.find('/', start);
    if (end == std::string::npos) end = loc.repository.size();
    std::string_view comp(loc.repository.data() + start, end - start);
    if (!ValidComponent(comp)) {
      return MakeError(Code::kInvalidArgument,
                       "invalid repository \"" + loc.repository + "\" in \"" + std::string(text) +
                           "\": components are lowercase letters, digits and . _ - separators");
    }
    start = end + 1;
  }
  if (loc.tag.empty() && loc.digest.empty()) loc.tag = "latest";
  return loc;
}

std::string ImageLocation::DockerReference() const {
  std::string base = registry + "/" + repository;
  if (!digest.empty() && tag.empty()) return base + "@" + digest;
  if (!digest.empty()) return base + ":" + tag + "@" + digest;
  return base + ":" + tag;
}

std::string ImageLocation::ManifestReference() const { return digest.empty() ? tag : digest; }

std::string ImageLocation::ToString() const {
  if (transport == Transport::kOciLayout) return "oci:" + dir + (tag.empty() ? "" : ":" + tag);
  return "docker://" + DockerReference();
}

}  // namespace coco::oci
