#include "base/result.h"

#include <iterator>

namespace coco {
namespace {

struct CodeInfo {
  Code code;
  const char* name;
  int grpc;
};

constexpr CodeInfo kCodes[] = {
    {Code::kCancelled, "Cancelled", 1},
    {Code::kUnknown, "Unknown", 2},
    {Code::kInvalidArgument, "InvalidArgument", 3},
    {Code::kDeadlineExceeded, "DeadlineExceeded", 4},
    {Code::kNotFound, "NotFound", 5},
    {Code::kAlreadyExists, "AlreadyExists", 6},
    {Code::kPermissionDenied, "PermissionDenied", 7},
    {Code::kResourceExhausted, "ResourceExhausted", 8},
    {Code::kFailedPrecondition, "FailedPrecondition", 9},
    {Code::kAborted, "Aborted", 10},
    {Code::kOutOfRange, "OutOfRange", 11},
    {Code::kUnimplemented, "Unimplemented", 12},
    {Code::kInternal, "Internal", 13},
    {Code::kUnavailable, "Unavailable", 14},
    {Code::kDataLoss, "DataLoss", 15},
    {Code::kUnauthenticated, "Unauthenticated", 16},
    {Code::kIo, "Io", 14},
    {Code::kEof, "Eof", 14},
    {Code::kTooLarge, "TooLarge", 8},
    {Code::kDigestMismatch, "DigestMismatch", 15},
    {Code::kCrypto, "Crypto", 3},
    {Code::kEvidence, "Evidence", 7},
    {Code::kPolicyDenied, "PolicyDenied", 7},
    {Code::kPolicyInvalid, "PolicyInvalid", 3},
    {Code::kSignatureInvalid, "SignatureInvalid", 7},
    {Code::kKeyMissing, "KeyMissing", 9},
    {Code::kKeyMismatch, "KeyMismatch", 7},
    {Code::kStorage, "Storage", 13},
    {Code::kStorageFull, "StorageFull", 8},
    {Code::kProtocol, "Protocol", 13},
};

const CodeInfo* Find(Code code) {
  for (const auto& c : kCodes)
    if (c.code == code) return &c;
  return nullptr;
}

}  // namespace

const char* CodeName(Code code) {
  const CodeInfo* c = Find(code);
  return c != nullptr ? c->name : "Unknown";
}

std::optional<Code> CodeFromName(std::string_view name) {
  for (const auto& c : kCodes)
    if (name == c.name) return c.code;
  return std::nullopt;
}

int GrpcCode(Code code) {
  const CodeInfo* c = Find(code);
  return c != nullptr ? c->grpc : 2;
}

Code CodeFromGrpc(int grpc_code) {
  if (grpc_code < 1 || grpc_code > 16) return Code::kUnknown;
  return static_cast<Code>(grpc_code);
}

std::string Error::Describe() const { return message + " [" + CodeName(code) + "]"; }

}  // namespace coco
