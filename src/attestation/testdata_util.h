// Test helpers: the bytes of a file under src/attestation/testdata (COCO_ATTESTATION_TESTDATA),
// and a configfs-tsm provider that replays a recorded report.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "attestation/tsm.h"
#include "base/bytes.h"

namespace coco::attestation {

inline Bytes ReadData(const std::string& name) {
  std::ifstream f(std::string(COCO_ATTESTATION_TESTDATA) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  EXPECT_FALSE(s.empty()) << name;
  return Bytes(s.begin(), s.end());
}

// configfs-tsm as the kernel behaves, replaying one recorded report: entries appear on
// MakeEntry, `generation` counts writes, outblob is the recorded report.
class RecordedTsm final : public TsmFs {
 public:
  RecordedTsm(Bytes report, Bytes aux, std::string provider = "sev_guest")
      : report_(std::move(report)), aux_(std::move(aux)), provider_(std::move(provider)) {}
  Status MakeEntry(const std::string& e) override {
    if (entries_.count(e)) return MakeError(Code::kIo, "exists");
    entries_[e] = {};
    return Status::Ok();
  }
  Status RemoveEntry(const std::string& e) override {
    removed_.push_back(e);
    entries_.erase(e);
    return Status::Ok();
  }
  Status Write(const std::string& e, const std::string& attr, const Bytes& data) override {
    if (!entries_.count(e)) return MakeError(Code::kNotFound, "no entry");
    entries_[e][attr] = data;
    ++generation_;
    return Status::Ok();
  }
  Result<Bytes> Read(const std::string& e, const std::string& attr) override {
    if (!entries_.count(e)) return MakeError(Code::kNotFound, "no entry");
    if (attr == "generation") {
      if (race_once_ && reads_of_generation_++ == 1) ++generation_;  // a concurrent writer
      std::string g = std::to_string(generation_) + "\n";
      return Bytes(g.begin(), g.end());
    }
    if (attr == "provider") return Bytes(provider_.begin(), provider_.end());
    if (attr == "outblob") return report_;
    if (attr == "auxblob") {
      if (aux_.empty()) return MakeError(Code::kNotFound, "no auxblob");
      return aux_;
    }
    return MakeError(Code::kNotFound, attr);
  }
  bool race_once_ = false;
  int reads_of_generation_ = 0;
  std::vector<std::string> removed_;
  std::map<std::string, std::map<std::string, Bytes>> entries_;

 private:
  Bytes report_, aux_;
  std::string provider_;
  int generation_ = 0;
};

}  // namespace coco::attestation
