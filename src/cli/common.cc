#include <iostream>
#include <iterator>

#include "base/file.h"
#include "cli/commands.h"

namespace coco::cli {
namespace {
int g_exit = 0;
}

int ExitCode() { return g_exit; }
void SetExitCode(int code) { g_exit = code; }

void Fail(const std::string& message) {
  std::cerr << "coco: " << message << "\n";
  g_exit = 1;
}

Result<std::string> ReadInput(const std::string& file) {
  if (file == "-") {
    std::string data((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    if (std::cin.bad()) return MakeError(Code::kIo, "cannot read stdin");
    return data;
  }
  return ReadFile(file);
}

}  // namespace coco::cli
