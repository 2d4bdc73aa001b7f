// Test helpers for coco_signature tests: temp dirs, shell commands, a throwaway GnuPG home.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace coco::signature::sigtest {

inline std::string TestData(const std::string& rel) {
  return std::string(COCO_SIGNATURE_TESTDATA) + "/" + rel;
}

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void Spit(const std::string& path, const std::string& data) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out << data;
}

// Runs a shell command; returns its exit status (0 = success).
inline int Shell(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

inline bool HaveTool(const std::string& name) {
  return Shell("command -v " + name + " >/dev/null 2>&1") == 0;
}

// A temporary directory removed (recursively) on destruction.
class TempDir {
 public:
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "coco-sigtest-XXXXXX").string();
    if (mkdtemp(t.data()) != nullptr) path_ = t;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

// A GnuPG home with one freshly generated signing key (no passphrase). The destructor stops
// the gpg-agent started for it, then the TempDir removes it.
class TestGpgHome {
 public:
  explicit TestGpgHome(const std::string& email) : email_(email) {
    home_ = dir_ / "gnupg";
    std::filesystem::create_directories(home_);
    std::filesystem::permissions(home_, std::filesystem::perms::owner_all);
    ok_ = Shell("gpg --homedir " + home_ +
                " --batch --quiet --passphrase '' --quick-gen-key 'Coco Test <" + email_ +
                ">' ed25519 sign never >/dev/null 2>&1") == 0;
    if (!ok_) return;
    std::string fpr_file = dir_ / "fpr";
    ok_ = Shell("gpg --homedir " + home_ + " --batch --with-colons --list-secret-keys " + email_ +
                " 2>/dev/null | awk -F: '/^fpr/ {print $10; exit}' > " + fpr_file) == 0;
    fingerprint_ = Slurp(fpr_file);
    while (!fingerprint_.empty() && fingerprint_.back() == '\n') fingerprint_.pop_back();
    std::string pub = dir_ / "pub.gpg";
    ok_ = ok_ && fingerprint_.size() == 40 &&
          Shell("gpg --homedir " + home_ + " --batch --export " + fingerprint_ + " > " + pub) == 0;
    public_keyring_ = Slurp(pub);
    ok_ = ok_ && !public_keyring_.empty();
  }
  ~TestGpgHome() { Shell("gpgconf --homedir " + home_ + " --kill all >/dev/null 2>&1"); }

  bool ok() const { return ok_; }
  const std::string& home() const { return home_; }
  const std::string& email() const { return email_; }
  const std::string& fingerprint() const { return fingerprint_; }
  const std::string& public_keyring() const { return public_keyring_; }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  std::string email_, home_, fingerprint_, public_keyring_;
  bool ok_ = false;
};

}  // namespace coco::signature::sigtest
