#include "signature/simple_signing.h"

#include <fcntl.h>
#include <gpgme.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>

extern char** environ;

namespace coco::signature {
namespace {

constexpr size_t kMaxBlob = 4 << 20;

Error GpgError(const std::string& what, gpgme_error_t err) {
  return MakeError(Code::kInternal, what + ": " + gpgme_strerror(err));
}

Error Invalid(const std::string& what) { return MakeError(Code::kSignatureInvalid, what); }

Status InitGpgme() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] {
    ok = gpgme_check_version(nullptr) != nullptr &&
         gpgme_engine_check_version(GPGME_PROTOCOL_OpenPGP) == 0;
  });
  if (!ok) return MakeError(Code::kInternal, "gpgme or the gpg engine is not usable");
  return Status::Ok();
}

struct DataDeleter {
  void operator()(gpgme_data_t d) const { gpgme_data_release(d); }
};
using DataPtr = std::unique_ptr<std::remove_pointer_t<gpgme_data_t>, DataDeleter>;
struct KeyDeleter {
  void operator()(gpgme_key_t k) const { gpgme_key_unref(k); }
};
using KeyPtr = std::unique_ptr<std::remove_pointer_t<gpgme_key_t>, KeyDeleter>;
struct CtxDeleter {
  void operator()(gpgme_ctx_t c) const { gpgme_release(c); }
};
using CtxPtr = std::unique_ptr<std::remove_pointer_t<gpgme_ctx_t>, CtxDeleter>;

Result<DataPtr> DataFrom(std::string_view bytes) {
  gpgme_data_t d = nullptr;
  gpgme_error_t err = gpgme_data_new_from_mem(&d, bytes.data(), bytes.size(), 1);
  if (err) return GpgError("cannot wrap data for gpgme", err);
  return DataPtr(d);
}

Result<DataPtr> EmptyData() {
  gpgme_data_t d = nullptr;
  gpgme_error_t err = gpgme_data_new(&d);
  if (err) return GpgError("cannot create gpgme buffer", err);
  return DataPtr(d);
}

std::string TakeData(DataPtr data) {
  size_t len = 0;
  char* mem = gpgme_data_release_and_get_mem(data.release(), &len);
  std::string out = mem ? std::string(mem, len) : std::string();
  if (mem) gpgme_free(mem);
  return out;
}

Result<CtxPtr> NewContext(const std::string& home) {
  COCO_RETURN_IF_ERROR(InitGpgme());
  gpgme_ctx_t ctx = nullptr;
  gpgme_error_t err = gpgme_new(&ctx);
  if (err) return GpgError("cannot create a gpgme context", err);
  CtxPtr c(ctx);
  err = gpgme_set_protocol(ctx, GPGME_PROTOCOL_OpenPGP);
  if (err) return GpgError("cannot select OpenPGP", err);
  if (!home.empty()) {
    err = gpgme_ctx_set_engine_info(ctx, GPGME_PROTOCOL_OpenPGP, nullptr, home.c_str());
    if (err) return GpgError("cannot use GnuPG home " + home, err);
  }
  return c;
}

// Runs `gpgconf --homedir HOME --kill all` with output discarded; best effort.
void KillDaemons(const std::string& home) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  std::string h = home;
  char arg0[] = "gpgconf", arg1[] = "--homedir", arg3[] = "--kill", arg4[] = "all";
  char* argv[] = {arg0, arg1, h.data(), arg3, arg4, nullptr};
  pid_t pid = 0;
  if (posix_spawnp(&pid, "gpgconf", &fa, nullptr, argv, environ) == 0) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  posix_spawn_file_actions_destroy(&fa);
}

std::string SignerName(gpgme_signature_t sig) {
  return sig->fpr ? std::string(sig->fpr) : std::string("(unknown)");
}

}  // namespace

struct GpgVerifier::Ctx {
  CtxPtr ctx;
};

Result<std::unique_ptr<GpgVerifier>> GpgVerifier::Create(const std::vector<std::string>& keyrings) {
  COCO_RETURN_IF_ERROR(InitGpgme());
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/coco-gpg-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    return MakeError(Code::kIo, "cannot create a temporary GnuPG home under " + templ);
  }
  std::unique_ptr<GpgVerifier> v(new GpgVerifier());
  v->home_ = templ;  // from here on the destructor cleans up
  v->ctx_ = std::make_unique<Ctx>();
  COCO_ASSIGN_OR_RETURN(v->ctx_->ctx, NewContext(v->home_));
  gpgme_ctx_t ctx = v->ctx_->ctx.get();
  for (size_t i = 0; i < keyrings.size(); ++i) {
    COCO_ASSIGN_OR_RETURN(DataPtr data, DataFrom(keyrings[i]));
    gpgme_error_t err = gpgme_op_import(ctx, data.get());
    if (err) return GpgError("cannot import keyring " + std::to_string(i + 1), err);
    gpgme_import_result_t res = gpgme_op_import_result(ctx);
    for (gpgme_import_status_t st = res ? res->imports : nullptr; st; st = st->next) {
      if (st->result == 0 && st->fpr) v->trusted_.insert(st->fpr);
    }
  }
  if (v->trusted_.empty()) {
    return MakeError(Code::kInvalidArgument, "no public keys imported from the policy's keyring");
  }
  return v;
}

GpgVerifier::~GpgVerifier() {
  ctx_.reset();
  if (home_.empty()) return;
  KillDaemons(home_);
  std::error_code ec;
  std::filesystem::remove_all(home_, ec);
}

Result<GpgVerifier::Verified> GpgVerifier::Verify(std::string_view blob) {
  if (blob.empty()) return Invalid("signature is empty");
  if (blob.size() > kMaxBlob) return Invalid("signature is larger than 4 MiB");
  gpgme_ctx_t ctx = ctx_->ctx.get();
  COCO_ASSIGN_OR_RETURN(DataPtr sig, DataFrom(blob));
  COCO_ASSIGN_OR_RETURN(DataPtr plain, EmptyData());
  gpgme_error_t err = gpgme_op_verify(ctx, sig.get(), nullptr, plain.get());
  if (err)
    return Invalid(std::string("not a valid OpenPGP signed message: ") + gpgme_strerror(err));
  gpgme_verify_result_t res = gpgme_op_verify_result(ctx);
  if (!res || !res->signatures) return Invalid("the OpenPGP message carries no signature");
  if (res->signatures->next) return Invalid("the OpenPGP message carries more than one signature");
  gpgme_signature_t s = res->signatures;
  std::string who = SignerName(s);
  if (gpg_err_code(s->status) == GPG_ERR_NO_PUBKEY) {
    return Invalid("signature by key " + who + " is not trusted (not in the policy's keyring)");
  }
  if (s->status != 0) {
    return Invalid("signature by key " + who + " is not valid: " + gpgme_strerror(s->status));
  }
  if ((s->summary & GPGME_SIGSUM_RED) || (s->summary & GPGME_SIGSUM_KEY_REVOKED) ||
      (s->summary & GPGME_SIGSUM_KEY_EXPIRED) || (s->summary & GPGME_SIGSUM_SIG_EXPIRED) ||
      s->validity == GPGME_VALIDITY_NEVER || s->wrong_key_usage) {
    return Invalid("signature by key " + who + " is not valid (bad, expired or revoked key)");
  }
  gpgme_key_t key = nullptr;
  err = gpgme_get_key(ctx, s->fpr, &key, 0);
  if (err || !key || !key->subkeys || !key->subkeys->fpr) {
    if (key) gpgme_key_unref(key);
    return Invalid("signature by key " + who + " is not trusted (key not found)");
  }
  KeyPtr k(key);
  std::string primary = key->subkeys->fpr;
  if (!trusted_.count(primary)) return Invalid("signature by key " + primary + " is not trusted");
  Verified out;
  out.payload = TakeData(std::move(plain));
  out.fingerprint = primary;
  return out;
}

Result<SimpleSigningResult> VerifySimpleSigning(GpgVerifier& verifier, std::string_view blob) {
  COCO_ASSIGN_OR_RETURN(GpgVerifier::Verified v, verifier.Verify(blob));
  auto p = ParsePayload(v.payload, kSimpleSigningType);
  if (!p.ok()) {
    return Invalid("signature by key " + v.fingerprint +
                   " has a bad payload: " + p.error().message);
  }
  return SimpleSigningResult{std::move(*p), v.fingerprint};
}

namespace {

gpgme_error_t PassphraseCallback(void* hook, const char*, const char*, int prev_was_bad, int fd) {
  const std::string* pass = static_cast<const std::string*>(hook);
  if (prev_was_bad) return gpg_error(GPG_ERR_BAD_PASSPHRASE);
  std::string line = *pass + "\n";
  if (gpgme_io_writen(fd, line.data(), line.size()) != 0) return gpg_error(GPG_ERR_GENERAL);
  return 0;
}

}  // namespace

Result<std::string> SignSimpleSigning(const std::string& docker_reference,
                                      const std::string& manifest_digest,
                                      const GpgSignOptions& options) {
  if (options.key.empty()) return MakeError(Code::kInvalidArgument, "no signing key given");
  COCO_ASSIGN_OR_RETURN(CtxPtr c, NewContext(options.gnupg_home));
  gpgme_ctx_t ctx = c.get();
  gpgme_set_armor(ctx, 0);
  gpgme_set_textmode(ctx, 0);
  gpgme_error_t err = gpgme_op_keylist_start(ctx, options.key.c_str(), 1);
  if (err) return GpgError("cannot list secret keys", err);
  gpgme_key_t first = nullptr, second = nullptr;
  err = gpgme_op_keylist_next(ctx, &first);
  if (!err) gpgme_op_keylist_next(ctx, &second);
  gpgme_op_keylist_end(ctx);
  KeyPtr k1(first), k2(second);
  if (!first) return MakeError(Code::kNotFound, "no secret key matches \"" + options.key + "\"");
  if (second) {
    return MakeError(Code::kInvalidArgument,
                     "\"" + options.key + "\" matches more than one secret key");
  }
  err = gpgme_signers_add(ctx, first);
  if (err) return GpgError("cannot use key " + options.key, err);
  if (!options.passphrase.empty()) {
    gpgme_set_pinentry_mode(ctx, GPGME_PINENTRY_MODE_LOOPBACK);
    gpgme_set_passphrase_cb(ctx, PassphraseCallback, const_cast<std::string*>(&options.passphrase));
  }
  SignaturePayload p{kSimpleSigningType, docker_reference, manifest_digest};
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  std::string payload = MakePayload(p, options.creator, now);
  COCO_ASSIGN_OR_RETURN(DataPtr plain, DataFrom(payload));
  COCO_ASSIGN_OR_RETURN(DataPtr sig, EmptyData());
  err = gpgme_op_sign(ctx, plain.get(), sig.get(), GPGME_SIG_MODE_NORMAL);
  if (err) return GpgError("gpg cannot sign with " + options.key, err);
  gpgme_sign_result_t res = gpgme_op_sign_result(ctx);
  if (!res || res->invalid_signers || !res->signatures) {
    return MakeError(Code::kInternal, "gpg refused signing key " + options.key);
  }
  return TakeData(std::move(sig));
}

}  // namespace coco::signature
