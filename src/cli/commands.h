// Subcommands of `coco`. Each Add* registers its commands with callbacks that run the command
// and record the process exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "base/result.h"

namespace coco::cli {

void AddKbsCommands(CLI::App& app);           // coco kbs ... (broker administration)
void AddGuestCommands(CLI::App& app);         // coco attest, coco get-resource (act as a guest)
void AddImageCommands(CLI::App& app);         // coco image ...
void AddImageCryptCommands(CLI::App* image);  // coco image encrypt|decrypt
void AddKeyProviderCommand(CLI::App& app);    // coco keyprovider (ocicrypt key-provider protocol)
void AddRunCommand(CLI::App& app);            // coco run (a pod VM)
void AddEvidenceCommands(CLI::App& app);      // coco evidence verify (offline)

// Exit code of the command that ran (0 unless it failed).
int ExitCode();
void SetExitCode(int code);

// Prints "coco: <message>" to stderr and sets exit code 1.
void Fail(const std::string& message);

// Reads FILE, or stdin when FILE is "-".
Result<std::string> ReadInput(const std::string& file);

}  // namespace coco::cli
