#include "net/ttrpc.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "net/ttrpc.pb.h"

namespace coco::net::ttrpc {
namespace {

struct Pair {
  int a = -1, b = -1;
  Pair() {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    a = fds[0];
    b = fds[1];
  }
};

TEST(TtrpcFrame, HeaderIsBigEndianTenBytes) {
  uint8_t out[kHeaderSize];
  EncodeHeader(FrameHeader{0x01020304, 0x0a0b0c0d, 1, 0}, out);
  const uint8_t want[] = {1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 1, 0};
  EXPECT_EQ(0, memcmp(out, want, sizeof want));
  FrameHeader h = DecodeHeader(want);
  EXPECT_EQ(h.length, 0x01020304u);
  EXPECT_EQ(h.stream_id, 0x0a0b0c0du);
  EXPECT_EQ(h.type, 1);
}

// The Request encoding, byte for byte, as containerd's ttrpc (Go protobuf) writes it for
// {service "s", method "m", payload "p", timeout_nano 5, metadata [{k, v}]}.
TEST(TtrpcFrame, RequestProtobufBytes) {
  wire::Request r;
  r.set_service("s");
  r.set_method("m");
  r.set_payload("p");
  r.set_timeout_nano(5);
  wire::KeyValue* kv = r.add_metadata();
  kv->set_key("k");
  kv->set_value("v");
  const std::string want("\x0a\x01s\x12\x01m\x1a\x01p\x20\x05\x2a\x06\x0a\x01k\x12\x01v", 19);
  EXPECT_EQ(r.SerializeAsString(), want);
}

TEST(TtrpcFrame, OversizeLengthRefusedBeforeReading) {
  Pair p;
  uint8_t hdr[kHeaderSize];
  EncodeHeader(FrameHeader{kMaxPayload + 1, 1, kTypeRequest, 0}, hdr);
  ASSERT_EQ(write(p.a, hdr, sizeof hdr), static_cast<ssize_t>(sizeof hdr));
  FrameStream s(p.b, true);
  auto r = s.Read();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kTooLarge);
  close(p.a);
}

TEST(TtrpcFrame, CleanEndAndTruncatedFrameAreDistinguished) {
  {
    Pair p;
    close(p.a);
    FrameStream s(p.b, true);
    auto r = s.Read();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Code::kEof);
  }
  {
    Pair p;
    uint8_t hdr[kHeaderSize];
    EncodeHeader(FrameHeader{10, 1, kTypeRequest, 0}, hdr);
    ASSERT_EQ(write(p.a, hdr, sizeof hdr), static_cast<ssize_t>(sizeof hdr));
    ASSERT_EQ(write(p.a, "abc", 3), 3);
    close(p.a);
    FrameStream s(p.b, true);
    auto r = s.Read();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Code::kIo);
    EXPECT_NE(r.error().message.find("inside a frame"), std::string::npos);
  }
}

class TtrpcCallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Register("t.S", "Echo", [](const std::string& p, const Metadata& md) {
      auto it = md.find("who");
      return Result<std::string>(p + (it == md.end() ? "" : "/" + it->second));
    });
    server_.Register("t.S", "Deny", [](const std::string&, const Metadata&) {
      return Result<std::string>(MakeError(Code::kPermissionDenied, "Deny is blocked by policy"));
    });
    server_.Register("t.S", "Digest", [](const std::string&, const Metadata&) {
      return Result<std::string>(
          MakeError(Code::kDigestMismatch, "layer sha256:ab: digest mismatch (got sha256:cd)"));
    });
    server_.Register("t.S", "Slow", [](const std::string& p, const Metadata&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(p)));
      return Result<std::string>(p);
    });
    server_stream_ = std::make_unique<FrameStream>(pair_.b, true);
    serve_ = std::thread([this] { served_ = server_.Serve(*server_stream_); });
    client_ = std::make_unique<Client>(std::make_unique<FrameStream>(pair_.a, true));
  }
  void TearDown() override {
    client_.reset();
    serve_.join();
  }
  Pair pair_;
  Server server_;
  std::unique_ptr<FrameStream> server_stream_;
  std::thread serve_;
  Error served_;
  std::unique_ptr<Client> client_;
};

TEST_F(TtrpcCallTest, EchoWithMetadata) {
  auto r = client_->Call("t.S", "Echo", "hi", 0, {{"who", "me"}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, "hi/me");
  std::string big(1 << 20, 'x');
  auto b = client_->Call("t.S", "Echo", big);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, big);
}

TEST_F(TtrpcCallTest, ErrorsKeepTheirCodeAcrossTheWire) {
  auto d = client_->Call("t.S", "Deny", "");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, Code::kPermissionDenied);
  EXPECT_EQ(d.error().message, "Deny is blocked by policy");
  auto o = client_->Call("t.S", "Digest", "");
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.error().code, Code::kDigestMismatch);
  EXPECT_EQ(o.error().message, "layer sha256:ab: digest mismatch (got sha256:cd)");
  auto u = client_->Call("t.S", "Nope", "");
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().code, Code::kUnimplemented);
  EXPECT_NE(u.error().message.find("t.S/Nope"), std::string::npos);
}

// What a peer that is not coco sends (a bare gRPC code), and a detail that contradicts the
// code it came with, as a foreign or hostile peer could send.
TEST(TtrpcStatus, ForeignStatusesMapToTheirGrpcCode) {
  Pair pair;
  FrameStream server(pair.b, true);
  Client client(std::make_unique<FrameStream>(pair.a, true));
  auto answer = [&](int code, const std::string& detail_name) {
    std::thread peer([&] {
      auto req = server.Read();
      ASSERT_TRUE(req.ok());
      wire::Response resp;
      resp.mutable_status()->set_code(code);
      resp.mutable_status()->set_message("from the peer");
      if (!detail_name.empty()) {
        wire::ErrorCode detail;
        detail.set_name(detail_name);
        wire::Any* any = resp.mutable_status()->add_details();
        any->set_type_url(kErrorCodeTypeUrl);
        any->set_value(detail.SerializeAsString());
      }
      ASSERT_TRUE(server.Write(req->first.stream_id, kTypeResponse, resp.SerializeAsString()).ok());
    });
    auto r = client.Call("t.S", "M", "");
    peer.join();
    EXPECT_FALSE(r.ok());
    return r.ok() ? Error{} : r.error();
  };
  EXPECT_EQ(answer(15, "").code, Code::kDataLoss);
  EXPECT_EQ(answer(15, "DigestMismatch").code, Code::kDigestMismatch);
  EXPECT_EQ(answer(7, "DigestMismatch").code, Code::kPermissionDenied);  // not a refinement of 7
  EXPECT_EQ(answer(7, "NoSuchCode").code, Code::kPermissionDenied);
  EXPECT_EQ(answer(42, "").code, Code::kUnknown);
  EXPECT_EQ(answer(2, "").message, "from the peer");
}

TEST_F(TtrpcCallTest, SlowCallDoesNotHoldUpOthersAndTimeoutsFire) {
  std::thread slow([this] {
    auto r = client_->Call("t.S", "Slow", "300");
    EXPECT_TRUE(r.ok());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto t0 = std::chrono::steady_clock::now();
  auto fast = client_->Call("t.S", "Echo", "quick");
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(fast.ok());
  EXPECT_LT(took, std::chrono::milliseconds(250));
  auto late = client_->Call("t.S", "Slow", "400", /*timeout_ms=*/50);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, Code::kDeadlineExceeded);
  slow.join();
  // The connection still works after a timed-out call's answer arrives and is dropped.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  auto again = client_->Call("t.S", "Echo", "again");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, "again");
}

TEST(TtrpcClient, PeerGoneFailsPendingAndLaterCalls) {
  Pair p;
  Client c(std::make_unique<FrameStream>(p.a, true));
  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    close(p.b);
  });
  auto r = c.Call("t.S", "Echo", "x");
  closer.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  auto later = c.Call("t.S", "Echo", "x");
  ASSERT_FALSE(later.ok());
  EXPECT_EQ(later.error().code, Code::kUnavailable);
}

TEST(TtrpcServer, GarbageRequestGetsInvalidArgumentAndServingGoesOn) {
  Pair p;
  Server s;
  s.Register("t.S", "Echo",
             [](const std::string& x, const Metadata&) { return Result<std::string>(x); });
  FrameStream ss(p.b, true);
  std::thread serve([&] { (void)s.Serve(ss); });
  FrameStream cs(p.a, true);
  ASSERT_TRUE(cs.Write(1, kTypeRequest, std::string("\xff\xff\xff", 3)).ok());
  auto f = cs.Read();
  ASSERT_TRUE(f.ok());
  wire::Response resp;
  ASSERT_TRUE(resp.ParseFromString(f->second));
  EXPECT_EQ(resp.status().code(), 3);
  EXPECT_EQ(f->first.stream_id, 1u);
  EXPECT_EQ(f->first.type, kTypeResponse);
  cs.Shutdown();
  serve.join();
}

}  // namespace
}  // namespace coco::net::ttrpc
