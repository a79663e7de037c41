// `prewarm image`: the node's template images, built from content-addressed layers.
//
//   prewarm image build examples/templates/static.yaml [--cache DIR]
//   prewarm image ls [--cache DIR]
//   prewarm image gc [--cache DIR] --keep examples/templates/static.yaml [--keep F...]
//
// build resolves and fetches the template's packages, unpacks every layer (agent/layers.h,
// agent/packages.h) and prints each layer's size and the template's total; ls lists the
// cache's layers with their sizes; gc removes the layers (and their erofs images) that no
// kept template uses. The agent builds the same layers itself at start.
#pragma once

#include "CLI/CLI.hpp"

namespace prewarm::cli {

void AddImageCommand(CLI::App& app);

}  // namespace prewarm::cli
