#include "net/ttrpc.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "net/fd_io.h"
#include "net/ttrpc.pb.h"

namespace coco::net::ttrpc {
namespace {

void SetStatus(const Error& e, wire::Status* status) {
  status->set_code(GrpcCode(e.code));
  status->set_message(e.message);
  if (static_cast<int>(e.code) != GrpcCode(e.code)) {  // a refinement: say which
    wire::ErrorCode detail;
    detail.set_name(CodeName(e.code));
    wire::Any* any = status->add_details();
    any->set_type_url(kErrorCodeTypeUrl);
    any->set_value(detail.SerializeAsString());
  }
}

// A peer's status as ours: its refined code if it names one we know and that refines the gRPC
// code it sent, else the gRPC code itself.
Error FromStatus(const wire::Status& status) {
  Code code = CodeFromGrpc(status.code());
  for (const auto& any : status.details()) {
    if (any.type_url() != kErrorCodeTypeUrl) continue;
    wire::ErrorCode detail;
    if (!detail.ParseFromString(any.value())) continue;
    auto named = CodeFromName(detail.name());
    if (named && GrpcCode(*named) == status.code()) code = *named;
  }
  return MakeError(code, status.message());
}

}  // namespace

void EncodeHeader(const FrameHeader& h, uint8_t out[kHeaderSize]) {
  PutBe32(h.length, out);
  PutBe32(h.stream_id, out + 4);
  out[8] = h.type;
  out[9] = h.flags;
}

FrameHeader DecodeHeader(const uint8_t in[kHeaderSize]) {
  return FrameHeader{Be32(in), Be32(in + 4), in[8], in[9]};
}

// --- FrameStream -----------------------------------------------------------------------------

FrameStream::~FrameStream() {
  if (owns_ && fd_ >= 0) close(fd_);
}

void FrameStream::Shutdown() { shutdown(fd_, SHUT_RDWR); }

Status FrameStream::ReadFull(uint8_t* p, size_t n, bool at_boundary) {
  size_t got = 0;
  while (got < n) {
    if (buf_pos_ < buf_.size()) {
      size_t take = std::min(n - got, buf_.size() - buf_pos_);
      std::memcpy(p + got, buf_.data() + buf_pos_, take);
      buf_pos_ += take;
      got += take;
      continue;
    }
    buf_.resize(64 * 1024);
    buf_pos_ = 0;
    ssize_t r = read(fd_, buf_.data(), buf_.size());
    if (r < 0 && errno == EINTR) {
      buf_.clear();
      continue;
    }
    if (r < 0) {
      int e = errno;
      buf_.clear();
      return MakeError(Code::kIo, std::string("reading the ttrpc stream: ") + std::strerror(e));
    }
    buf_.resize(static_cast<size_t>(r));
    if (r == 0) {
      if (at_boundary && got == 0) return MakeError(Code::kEof, "the ttrpc stream ended");
      return MakeError(Code::kIo, "the ttrpc stream ended inside a frame");
    }
  }
  return Status::Ok();
}

Result<std::pair<FrameHeader, std::string>> FrameStream::Read() {
  uint8_t hdr[kHeaderSize];
  COCO_RETURN_IF_ERROR(ReadFull(hdr, kHeaderSize, /*at_boundary=*/true));
  FrameHeader h = DecodeHeader(hdr);
  if (h.length > kMaxPayload) {
    return MakeError(Code::kTooLarge, "a ttrpc frame of " + std::to_string(h.length) +
                                          " bytes is over the 4 MiB limit");
  }
  std::string payload(h.length, '\0');
  COCO_RETURN_IF_ERROR(ReadFull(reinterpret_cast<uint8_t*>(payload.data()), payload.size(), false));
  return std::make_pair(h, std::move(payload));
}

Status FrameStream::Write(uint32_t stream_id, uint8_t type, const std::string& payload) {
  if (payload.size() > kMaxPayload) {
    return MakeError(Code::kTooLarge, "a ttrpc message of " + std::to_string(payload.size()) +
                                          " bytes is over the 4 MiB limit");
  }
  uint8_t header[kHeaderSize];
  EncodeHeader(FrameHeader{static_cast<uint32_t>(payload.size()), stream_id, type, 0}, header);
  std::lock_guard<std::mutex> l(write_mu_);
  if (!WriteAll(fd_, header, sizeof header) || !WriteAll(fd_, payload.data(), payload.size())) {
    return MakeError(Code::kIo, std::string("writing the ttrpc stream: ") + std::strerror(errno));
  }
  return Status::Ok();
}

// --- Server ----------------------------------------------------------------------------------

void Server::Register(const std::string& service, const std::string& method, Handler handler) {
  handlers_[service + "/" + method] = std::move(handler);
}

Error Server::Serve(FrameStream& stream) {
  std::vector<std::thread> workers;
  Error end;
  for (;;) {
    auto frame = stream.Read();
    if (!frame.ok()) {
      end = frame.error();
      break;
    }
    auto& [hdr, bytes] = *frame;
    if (hdr.type != kTypeRequest) continue;  // data frames and strays are not for a unary server
    uint32_t id = hdr.stream_id;
    wire::Request req;
    wire::Response resp;
    const Handler* handler = nullptr;
    if (!req.ParseFromString(bytes)) {
      resp.mutable_status()->set_code(3);
      resp.mutable_status()->set_message("the ttrpc request is not a valid protobuf message");
    } else {
      auto it = handlers_.find(req.service() + "/" + req.method());
      if (it == handlers_.end()) {
        resp.mutable_status()->set_code(12);
        resp.mutable_status()->set_message(req.service() + "/" + req.method() +
                                           " is not implemented");
      } else {
        handler = &it->second;
      }
    }
    if (handler == nullptr) {
      (void)stream.Write(id, kTypeResponse, resp.SerializeAsString());
      continue;
    }
    Metadata md;
    for (const auto& kv : req.metadata()) md[kv.key()] = kv.value();
    in_flight_++;
    workers.emplace_back([this, &stream, handler, id, payload = std::move(*req.mutable_payload()),
                          md = std::move(md)] {
      wire::Response out;
      auto r = (*handler)(payload, md);
      if (r.ok()) {
        out.set_payload(std::move(r).value());
      } else {
        SetStatus(r.error(), out.mutable_status());
      }
      (void)stream.Write(id, kTypeResponse, out.SerializeAsString());
      in_flight_--;
    });
    // Reap finished workers now and then so a long session does not pile up thread objects.
    if (workers.size() > 64 && in_flight_.load() == 0) {
      for (auto& w : workers) w.join();
      workers.clear();
    }
  }
  for (auto& w : workers) w.join();
  return end;
}

// --- Client ----------------------------------------------------------------------------------

Client::Client(std::unique_ptr<FrameStream> stream) : stream_(std::move(stream)) {
  reader_ = std::thread([this] { ReadLoop(); });
}

Client::~Client() {
  Close();
  if (reader_.joinable()) reader_.join();
}

void Client::Close() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!closed_) {
      closed_ = true;
      close_reason_ = "the connection was closed";
    }
    for (auto& [id, p] : pending_) {
      p->done = true;
      p->result = MakeError(Code::kUnavailable, "ttrpc: " + close_reason_);
    }
    pending_.clear();
  }
  cv_.notify_all();
  stream_->Shutdown();
}

void Client::ReadLoop() {
  for (;;) {
    auto frame = stream_->Read();
    if (!frame.ok()) {
      std::lock_guard<std::mutex> l(mu_);
      if (!closed_) {
        closed_ = true;
        close_reason_ = frame.error().code == Code::kEof ? "the peer closed the connection"
                                                         : frame.error().message;
      }
      for (auto& [id, p] : pending_) {
        p->done = true;
        p->result = MakeError(Code::kUnavailable, "ttrpc: " + close_reason_);
      }
      pending_.clear();
      cv_.notify_all();
      return;
    }
    auto& [hdr, bytes] = *frame;
    if (hdr.type != kTypeResponse) continue;
    wire::Response resp;
    Result<std::string> result = Error{};
    if (!resp.ParseFromString(bytes)) {
      result = MakeError(Code::kProtocol, "the ttrpc response is not a valid protobuf message");
    } else if (resp.has_status() && resp.status().code() != 0) {
      result = FromStatus(resp.status());
    } else {
      result = std::move(*resp.mutable_payload());
    }
    std::lock_guard<std::mutex> l(mu_);
    auto it = pending_.find(hdr.stream_id);
    if (it == pending_.end()) continue;  // a call that timed out
    it->second->done = true;
    it->second->result = std::move(result);
    pending_.erase(it);
    cv_.notify_all();
  }
}

Result<std::string> Client::Call(const std::string& service, const std::string& method,
                                 const std::string& payload, int64_t timeout_ms,
                                 const Metadata& metadata) {
  wire::Request req;
  req.set_service(service);
  req.set_method(method);
  req.set_payload(payload);
  if (timeout_ms > 0) req.set_timeout_nano(timeout_ms * 1000000);
  for (const auto& [k, v] : metadata) {
    wire::KeyValue* kv = req.add_metadata();
    kv->set_key(k);
    kv->set_value(v);
  }
  auto p = std::make_shared<Pending>();
  uint32_t id;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) return MakeError(Code::kUnavailable, "ttrpc: " + close_reason_);
    id = next_id_;
    next_id_ += 2;
    pending_[id] = p;
  }
  Status sent = stream_->Write(id, kTypeRequest, req.SerializeAsString());
  std::unique_lock<std::mutex> l(mu_);
  if (!sent.ok()) {
    pending_.erase(id);
    return MakeError(Code::kUnavailable, "ttrpc: " + sent.error().message);
  }
  auto done = [&] { return p->done; };
  if (timeout_ms > 0) {
    if (!cv_.wait_for(l, std::chrono::milliseconds(timeout_ms), done)) {
      pending_.erase(id);
      return MakeError(Code::kDeadlineExceeded, service + "/" + method + " gave no answer within " +
                                                    std::to_string(timeout_ms) + " ms");
    }
  } else {
    cv_.wait(l, done);
  }
  return std::move(p->result);
}

}  // namespace coco::net::ttrpc
