// Result<T>: a value or an Error, the return type of every fallible call.
// No exceptions cross a module boundary; callers test ok() and read value() or error().
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace coco {

// What went wrong, from a closed set. The first sixteen are gRPC's canonical codes (same
// numbers); the others refine one of them where a caller acts on the difference or a user
// should see it, and travel as that gRPC code plus their own name (see net/ttrpc).
enum class Code : unsigned char {
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
  // Refinements (gRPC code in brackets).
  kIo = 32,           // a file or socket operation failed [Unavailable]
  kEof,               // the peer closed the stream [Unavailable]
  kTooLarge,          // an input is over its size, depth or count limit [ResourceExhausted]
  kDigestMismatch,    // content does not match its digest or MAC [DataLoss]
  kCrypto,            // a key, signature or cipher operation failed [InvalidArgument]
  kEvidence,          // attestation evidence is malformed or does not verify [PermissionDenied]
  kPolicyDenied,      // a policy refused the request [PermissionDenied]
  kPolicyInvalid,     // a policy text does not parse or compile [InvalidArgument]
  kSignatureInvalid,  // an image signature does not verify [PermissionDenied]
  kKeyMissing,        // no key was given for encrypted content [FailedPrecondition]
  kKeyMismatch,       // the keys given do not open the content [PermissionDenied]
  kStorage,           // the persistent store failed [Internal]
  kStorageFull,       // the persistent store is full [ResourceExhausted]
  kProtocol,          // the other side answered outside its protocol [Internal]
};

// "InvalidArgument", "DigestMismatch", ...: the name users and logs see.
const char* CodeName(Code code);
// The code a name stands for (as CodeName spells it), if any.
std::optional<Code> CodeFromName(std::string_view name);
// The gRPC code (1..16) that `code` is, or refines.
int GrpcCode(Code code);
// The code for a gRPC status code received from a peer (2 for anything outside 1..16).
Code CodeFromGrpc(int grpc_code);

// An error: what kind of failure, a message that says what failed and why, and, where a
// protocol names its errors itself (the broker's KBS variants), that name.
struct Error {
  Code code = Code::kUnknown;
  std::string message;  // names the offending input and why it was refused
  std::string wire;     // a protocol's own name for the error, or empty

  // "<message>", or for display with the code: "<message> [<CodeName>]".
  std::string Describe() const;
};

inline Error MakeError(Code code, std::string message) {
  return Error{code, std::move(message), {}};
}

// `e` seen from a caller: "<context>: <message>", code and wire name kept.
inline Error Annotate(Error e, std::string_view context) {
  e.message = std::string(context) + ": " + e.message;
  return e;
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(runtime/explicit)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(runtime/explicit)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result of a call that yields nothing on success.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : err_(std::move(error)) {}  // NOLINT(runtime/explicit)
  static Status Ok() { return Status(); }
  bool ok() const { return !err_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *err_; }

 private:
  std::optional<Error> err_;
};

}  // namespace coco

// Propagates the error of a Result/Status expression out of the current function.
#define COCO_CONCAT_INNER(a, b) a##b
#define COCO_CONCAT(a, b) COCO_CONCAT_INNER(a, b)
#define COCO_RETURN_IF_ERROR(expr)                       \
  do {                                                   \
    auto&& coco_status_ = (expr);                        \
    if (!coco_status_.ok()) return coco_status_.error(); \
  } while (0)
#define COCO_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.error();               \
  lhs = std::move(tmp).value()
#define COCO_ASSIGN_OR_RETURN(lhs, expr) \
  COCO_ASSIGN_OR_RETURN_IMPL(COCO_CONCAT(coco_result_, __LINE__), lhs, expr)
