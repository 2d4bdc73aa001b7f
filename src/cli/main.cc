// coco: the user's command. This file wires subcommands; each lives in its own *_cmd.cc.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/commands.h"

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  CLI::App app{
      "coco: Confidential Containers — run containers in attested pod VMs; client for the key "
      "broker; image tools.\n\n"
      "Examples:\n"
      "  coco run --kbs http://127.0.0.1:8080 docker://127.0.0.1:5000/app:enc\n"
      "  coco kbs --kbs http://127.0.0.1:8080 --admin-token DIR/admin-token set-resource "
      "default/key/1 key.bin\n"
      "  coco attest --kbs http://127.0.0.1:8080\n"
      "  coco get-resource --kbs http://127.0.0.1:8080 kbs:///default/key/1 > key.bin\n"
      "  coco image pull docker://127.0.0.1:5000/app:v1 --store /tmp/store\n"
      "  coco evidence verify evidence.json --at 2026-01-01T00:00:00Z\n",
      "coco"};
  app.require_subcommand(1);
  coco::cli::AddKbsCommands(app);
  coco::cli::AddGuestCommands(app);
  coco::cli::AddImageCommands(app);
  coco::cli::AddKeyProviderCommand(app);
  coco::cli::AddRunCommand(app);
  coco::cli::AddEvidenceCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return coco::cli::ExitCode();
}
