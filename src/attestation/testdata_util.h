// Test helper: the bytes of a file under src/attestation/testdata (COCO_ATTESTATION_TESTDATA).
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

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

}  // namespace coco::attestation
