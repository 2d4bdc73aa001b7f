// The libcurl engine of the registry client (the host tools).
#include <curl/curl.h>

#include <mutex>
#include <vector>

#include "oci/registry.h"
#include "oci/registry_http.h"

namespace coco::oci {
namespace {

struct Transfer {
  HttpRequest* req;
  HttpResponse* resp;
  CURL* curl;
  uint64_t skipped = 0;
  std::optional<Error> error;  // the sink refused the bytes, or the body was too large
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) t->resp->headers.clear();  // a new response (redirect)
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    SetResponseHeader(*t->resp, line.substr(0, colon), std::move(value));
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  long code = 0;  // NOLINT(runtime/int)
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
  return DeliverBody(*t->req, *t->resp, code, data, size * n, t->skipped, t->error) ? size * n : 0;
}

size_t OnRead(char* buf, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  auto got = t->req->body_reader->Read(reinterpret_cast<uint8_t*>(buf), size * n);
  if (!got.ok()) {
    t->error = got.error();
    return CURL_READFUNC_ABORT;
  }
  return *got;
}

class CurlRegistryHttp final : public RegistryHttp {
 public:
  explicit CurlRegistryHttp(const RegistryOptions& o) : opts_(o) {}
  ~CurlRegistryHttp() override {
    for (CURL* c : idle_) curl_easy_cleanup(c);
  }

  Result<HttpResponse> Perform(HttpRequest& req, bool verify_tls) override {
    HttpResponse resp;
    CURL* curl = TakeHandle();
    if (curl == nullptr) return MakeError("Io", "cannot initialise libcurl");
    Transfer t{&req, &resp, curl, 0, std::nullopt};
    struct curl_slist* hdrs = nullptr;
    for (const auto& h : req.headers) hdrs = curl_slist_append(hdrs, h.c_str());
    curl_easy_setopt(curl, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, opts_.user_agent.c_str());
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, opts_.connect_timeout_s);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, opts_.low_speed_timeout_s);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 512L * 1024L);
    if (!verify_tls) {
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (!opts_.ca_files.empty()) {
      // libcurl takes one CA file; the first extra bundle is added to the system store.
      curl_easy_setopt(curl, CURLOPT_CAINFO, opts_.ca_files.front().c_str());
    }
    if (req.method == "HEAD") {
      curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (req.method != "GET") {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req.method.c_str());
      if (req.body_reader != nullptr) {
        curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, OnRead);
        curl_easy_setopt(curl, CURLOPT_READDATA, &t);
        curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body_size));
      } else {
        static const std::string kEmpty;
        const std::string& b = req.body != nullptr ? *req.body : kEmpty;  // must outlive perform
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, b.data());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(b.size()));
      }
    }
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp.status);
    curl_slist_free_all(hdrs);
    GiveBack(curl);
    if (t.error) return *t.error;
    if (rc != CURLE_OK) {
      resp.transport =
          MakeError("Unavailable", req.method + " " + req.url + ": " + curl_easy_strerror(rc));
    }
    return resp;
  }

 private:
  // Idle easy handles: a reused handle keeps its connection, DNS and TLS-session caches, so the
  // requests of one pull share connections instead of opening one each.
  CURL* TakeHandle() {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!idle_.empty()) {
        CURL* c = idle_.back();
        idle_.pop_back();
        curl_easy_reset(c);
        return c;
      }
    }
    return curl_easy_init();
  }

  void GiveBack(CURL* c) {
    std::lock_guard<std::mutex> l(mu_);
    if (idle_.size() < 8) {
      idle_.push_back(c);
      return;
    }
    curl_easy_cleanup(c);
  }

  RegistryOptions opts_;
  std::mutex mu_;
  std::vector<CURL*> idle_;
};

}  // namespace

Result<std::unique_ptr<RegistryHttp>> NewCurlRegistryHttp(const RegistryOptions& options) {
  static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (init != CURLE_OK) return MakeError("Io", "cannot initialise libcurl");
  return std::unique_ptr<RegistryHttp>(new CurlRegistryHttp(options));
}

}  // namespace coco::oci
