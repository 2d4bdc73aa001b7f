// The cpp-httplib engine of the registry client (coco-agent inside the pod).
#include <httplib.h>
#include <strings.h>

#include <algorithm>
#include <mutex>

#include "oci/registry.h"
#include "oci/registry_http.h"

namespace coco::oci {
namespace {

std::string Describe(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection:
      return "cannot connect";
    case httplib::Error::ConnectionTimeout:
      return "connection timed out";
    case httplib::Error::Read:
      return "the connection dropped while reading";
    case httplib::Error::Write:
      return "the connection dropped while writing";
    case httplib::Error::SSLConnection:
      return "TLS handshake failed";
    case httplib::Error::SSLServerVerification:
      return "the server's TLS certificate is not trusted";
    case httplib::Error::ExceedRedirectCount:
      return "too many redirects";
    default:
      return httplib::to_string(e);
  }
}

class HttplibRegistryHttp final : public RegistryHttp {
 public:
  explicit HttplibRegistryHttp(const RegistryOptions& o) : opts_(o) {}

  Result<HttpResponse> Perform(HttpRequest& req, bool verify_tls) override {
    HttpResponse resp;
    auto scheme_end = req.url.find("://");
    if (scheme_end == std::string::npos) return MakeError("InvalidArgument", "bad URL " + req.url);
    size_t path_start = req.url.find('/', scheme_end + 3);
    std::string origin = req.url.substr(0, path_start);
    std::string path = path_start == std::string::npos ? "/" : req.url.substr(path_start);

    httplib::Headers headers;
    std::string content_type = "application/octet-stream";
    for (const std::string& h : req.headers) {
      auto colon = h.find(':');
      if (colon == std::string::npos) continue;
      std::string name = h.substr(0, colon);
      std::string value = h.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      if (strcasecmp(name.c_str(), "content-type") == 0) {
        content_type = value;  // httplib sets it from its own argument
        continue;
      }
      headers.emplace(name, value);
    }
    headers.emplace("User-Agent", opts_.user_agent);

    std::unique_ptr<httplib::Client> client = Take(origin, verify_tls);
    uint64_t skipped = 0;
    std::optional<Error> error;
    auto on_response = [&](const httplib::Response& r) {
      resp.status = r.status;
      resp.headers.clear();
      resp.body.clear();
      for (const auto& [k, v] : r.headers) SetResponseHeader(resp, k, v);
      return true;
    };
    auto on_body = [&](const char* data, size_t len) {
      return DeliverBody(req, resp, resp.status, data, len, skipped, error);
    };
    httplib::Result r{nullptr, httplib::Error::Unknown};
    if (req.method == "GET") {
      r = client->Get(path, headers, on_response, on_body);
    } else if (req.method == "HEAD") {
      r = client->Head(path, headers);
    } else if (req.method == "POST" || req.method == "PUT") {
      bool post = req.method == "POST";
      if (req.body_reader != nullptr) {
        auto provide = [&](size_t, size_t length, httplib::DataSink& sink) {
          std::vector<uint8_t> buf(std::min<size_t>(length, 256 << 10));
          auto got = req.body_reader->Read(buf.data(), buf.size());
          if (!got.ok()) {
            error = got.error();
            return false;
          }
          return sink.write(reinterpret_cast<const char*>(buf.data()), *got);
        };
        size_t size = static_cast<size_t>(std::max<int64_t>(req.body_size, 0));
        r = post ? client->Post(path, headers, size, provide, content_type)
                 : client->Put(path, headers, size, provide, content_type);
      } else {
        static const std::string kEmpty;
        const std::string& b = req.body != nullptr ? *req.body : kEmpty;
        r = post ? client->Post(path, headers, b, content_type)
                 : client->Put(path, headers, b, content_type);
      }
    } else {
      Give(origin, verify_tls, std::move(client));
      return MakeError("InvalidArgument", "unsupported HTTP method " + req.method);
    }
    if (error) return *error;
    if (!r) {
      resp.transport =
          MakeError("Unavailable", req.method + " " + req.url + ": " + Describe(r.error()));
      return resp;  // the client's connection is in an unknown state: not reused
    }
    if (req.method != "GET") {  // the streamed GET filled these in as it went
      resp.status = r->status;
      for (const auto& [k, v] : r->headers) SetResponseHeader(resp, k, v);
      if (r->body.size() > req.max_body) {
        return MakeError("TooLarge", req.url + " answered with more than " +
                                         std::to_string(req.max_body) + " bytes");
      }
      resp.body = r->body;
    }
    Give(origin, verify_tls, std::move(client));
    return resp;
  }

 private:
  // Idle clients per origin: a reused client keeps its connection alive between requests.
  std::unique_ptr<httplib::Client> Take(const std::string& origin, bool verify_tls) {
    {
      std::lock_guard<std::mutex> l(mu_);
      auto& pool = idle_[Key(origin, verify_tls)];
      if (!pool.empty()) {
        auto c = std::move(pool.back());
        pool.pop_back();
        return c;
      }
    }
    auto c = std::make_unique<httplib::Client>(origin);
    c->set_follow_location(true);
    c->set_keep_alive(true);
    c->set_tcp_nodelay(true);
    c->set_connection_timeout(static_cast<time_t>(opts_.connect_timeout_s), 0);
    c->set_read_timeout(static_cast<time_t>(opts_.low_speed_timeout_s), 0);
    c->set_write_timeout(static_cast<time_t>(opts_.low_speed_timeout_s), 0);
    c->enable_server_certificate_verification(verify_tls);
    if (verify_tls && !opts_.ca_files.empty()) c->set_ca_cert_path(opts_.ca_files.front().c_str());
    return c;
  }

  void Give(const std::string& origin, bool verify_tls, std::unique_ptr<httplib::Client> c) {
    std::lock_guard<std::mutex> l(mu_);
    auto& pool = idle_[Key(origin, verify_tls)];
    if (pool.size() < 8) pool.push_back(std::move(c));
  }

  static std::string Key(const std::string& origin, bool verify_tls) {
    return origin + (verify_tls ? " verify" : " noverify");
  }

  RegistryOptions opts_;
  std::mutex mu_;
  std::map<std::string, std::vector<std::unique_ptr<httplib::Client>>> idle_;
};

}  // namespace

Result<std::unique_ptr<RegistryHttp>> NewHttplibRegistryHttp(const RegistryOptions& options) {
  return std::unique_ptr<RegistryHttp>(new HttplibRegistryHttp(options));
}

}  // namespace coco::oci
