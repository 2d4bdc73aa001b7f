#include "signature/image_ref.h"

#include <algorithm>
#include <cctype>

namespace coco::signature {
namespace {

Error Invalid(const std::string& text, const std::string& why) {
  return MakeError(Code::kInvalidArgument, "invalid image reference \"" + text + "\": " + why);
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One path component: [a-z0-9]+ separated by '.', '_', '__' or one or more '-'.
bool ValidPathComponent(const std::string& c) {
  if (c.empty() || !IsLowerAlnum(c.front()) || !IsLowerAlnum(c.back())) return false;
  for (size_t i = 0; i < c.size();) {
    if (IsLowerAlnum(c[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < c.size() && !IsLowerAlnum(c[j])) ++j;
    std::string sep = c.substr(i, j - i);
    bool dashes = sep.find_first_not_of('-') == std::string::npos;
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
    i = j;
  }
  return true;
}

bool ValidTag(const std::string& t) {
  if (t.empty() || t.size() > 128) return false;
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (!word(t[0])) return false;
  for (char c : t) {
    if (!word(c) && c != '.' && c != '-') return false;
  }
  return true;
}

bool ValidLabel(const std::string& l) {
  if (l.empty()) return false;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(l.front()) || !alnum(l.back())) return false;
  for (char c : l) {
    if (!alnum(c) && c != '-') return false;
  }
  return true;
}

bool LooksLikeHost(const std::string& first) {
  return first.find('.') != std::string::npos || first.find(':') != std::string::npos ||
         first == "localhost" || std::any_of(first.begin(), first.end(), [](char c) {
           return std::isupper(static_cast<unsigned char>(c));
         });
}

}  // namespace

bool IsValidHost(const std::string& host) {
  auto digits = [](const std::string& p) {
    return !p.empty() && std::all_of(p.begin(), p.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c)) != 0;
    });
  };
  if (host.empty()) return false;
  if (host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string::npos || close == 1) return false;
    for (size_t i = 1; i < close; ++i) {
      if (!std::isxdigit(static_cast<unsigned char>(host[i])) && host[i] != ':') return false;
    }
    std::string rest = host.substr(close + 1);
    return rest.empty() || (rest[0] == ':' && digits(rest.substr(1)));
  }
  std::string name = host;
  size_t colon = host.find(':');
  if (colon != std::string::npos) {
    name = host.substr(0, colon);
    if (!digits(host.substr(colon + 1))) return false;
  }
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    std::string label =
        name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!ValidLabel(label)) return false;
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

Status ValidateDigest(const std::string& digest) {
  size_t colon = digest.find(':');
  if (colon == std::string::npos || colon == 0) {
    return MakeError(Code::kInvalidArgument, "digest \"" + digest + "\" is not algorithm:hex");
  }
  std::string algo = digest.substr(0, colon);
  std::string hex = digest.substr(colon + 1);
  size_t want = 0;
  if (algo == "sha256") {
    want = 64;
  } else if (algo == "sha512") {
    want = 128;
  } else {
    return MakeError(Code::kInvalidArgument,
                     "digest \"" + digest + "\" uses unsupported algorithm " + algo);
  }
  bool hex_ok = hex.size() == want && std::all_of(hex.begin(), hex.end(), [](char c) {
                  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                });
  if (!hex_ok) {
    return MakeError(Code::kInvalidArgument, "digest \"" + digest + "\" must have " +
                                                 std::to_string(want) + " lowercase hex digits");
  }
  return Status::Ok();
}

Result<ImageReference> ImageReference::Parse(const std::string& text) {
  if (text.empty()) return Invalid(text, "empty");
  if (text.size() > 4096) return Invalid(text.substr(0, 64) + "...", "too long");
  std::string rest = text;
  ImageReference ref;
  size_t at = rest.find('@');
  if (at != std::string::npos) {
    ref.digest_ = rest.substr(at + 1);
    rest = rest.substr(0, at);
    Status s = ValidateDigest(ref.digest_);
    if (!s.ok()) return Invalid(text, s.error().message);
  }
  // A tag is after the last ':' that follows the last '/'.
  size_t slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    ref.tag_ = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (!ValidTag(ref.tag_)) return Invalid(text, "bad tag \"" + ref.tag_ + "\"");
  }
  size_t first_slash = rest.find('/');
  std::string first = rest.substr(0, first_slash);
  if (first_slash != std::string::npos && LooksLikeHost(first)) {
    ref.host_ = first;
    ref.path_ = rest.substr(first_slash + 1);
    if (!IsValidHost(ref.host_)) return Invalid(text, "bad registry host \"" + ref.host_ + "\"");
  } else {
    ref.host_ = "docker.io";
    ref.path_ = rest;
  }
  if (ref.host_ == "index.docker.io") ref.host_ = "docker.io";
  if (ref.path_.empty()) return Invalid(text, "missing repository path");
  size_t start = 0;
  while (true) {
    size_t s = ref.path_.find('/', start);
    std::string comp =
        ref.path_.substr(start, s == std::string::npos ? std::string::npos : s - start);
    if (!ValidPathComponent(comp)) {
      return Invalid(text, "bad repository path component \"" + comp +
                               "\" (lowercase letters, digits and . _ __ - separators only)");
    }
    if (s == std::string::npos) break;
    start = s + 1;
  }
  if (ref.host_ == "docker.io" && ref.path_.find('/') == std::string::npos) {
    ref.path_ = "library/" + ref.path_;
  }
  if (ref.Name().size() > 255) return Invalid(text, "repository name longer than 255");
  return ref;
}

std::string ImageReference::String() const {
  std::string s = Name();
  if (!tag_.empty()) s += ":" + tag_;
  if (!digest_.empty()) s += "@" + digest_;
  return s;
}

ImageReference ImageReference::WithTag(const std::string& tag) const {
  ImageReference r = *this;
  r.tag_ = tag;
  return r;
}

ImageReference ImageReference::WithDigest(const std::string& digest) const {
  ImageReference r = *this;
  r.digest_ = digest;
  return r;
}

std::vector<std::string> ImageReference::PolicyScopes() const {
  std::vector<std::string> scopes;
  if (!name_only()) scopes.push_back(String());
  std::string name = Name();
  while (true) {
    scopes.push_back(name);
    size_t slash = name.rfind('/');
    if (slash == std::string::npos) break;
    name = name.substr(0, slash);
  }
  // `name` is now host[:port]; wildcards use the host without the port.
  if (name.front() != '[') {
    size_t colon = name.find(':');
    if (colon != std::string::npos) name = name.substr(0, colon);
    while (true) {
      size_t dot = name.find('.');
      if (dot == std::string::npos) break;
      name = name.substr(dot + 1);
      scopes.push_back("*." + name);
    }
  }
  return scopes;
}

}  // namespace coco::signature
