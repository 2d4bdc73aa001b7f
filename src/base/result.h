// Result<T>: a value or an Error, the return type of every fallible call.
// No exceptions cross a module boundary; callers test ok() and read value() or error().
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace coco {

// An error: a short machine-readable kind plus a human message that says what was wrong.
struct Error {
  std::string kind;     // e.g. "InvalidArgument", "NotFound", "Crypto", "Io"
  std::string message;  // names the offending input and why it was refused
};

inline Error MakeError(std::string kind, std::string message) {
  return Error{std::move(kind), std::move(message)};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(runtime/explicit)
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
#define COCO_RETURN_IF_ERROR(expr)              \
  do {                                          \
    auto&& coco_status_ = (expr);               \
    if (!coco_status_.ok()) return coco_status_.error(); \
  } while (0)
#define COCO_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.error();               \
  lhs = std::move(tmp).value()
#define COCO_ASSIGN_OR_RETURN(lhs, expr) \
  COCO_ASSIGN_OR_RETURN_IMPL(COCO_CONCAT(coco_result_, __LINE__), lhs, expr)
