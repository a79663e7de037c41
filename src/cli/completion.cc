#include "cli/completion.h"

#include <iostream>
#include <vector>

#include "absl/strings/str_join.h"
#include "fmt/format.h"

namespace prewarm::cli {
namespace {

std::vector<std::string> OptionWords(const CLI::App& app) {
  std::vector<std::string> out;
  for (const CLI::Option* o :
       app.get_options([](const CLI::Option* opt) { return opt->nonpositional(); })) {
    for (const std::string& l : o->get_lnames()) out.push_back("--" + l);
    for (const std::string& s : o->get_snames()) out.push_back("-" + s);
  }
  return out;
}

// One line per command path ("prewarm ctl nodes"): its subcommands and its options, as bash
// associative array entries.
void Walk(const CLI::App& app, const std::string& path, const std::vector<std::string>& inherited,
          std::string& subs, std::string& opts) {
  std::vector<std::string> words = OptionWords(app);
  words.insert(words.end(), inherited.begin(), inherited.end());
  std::vector<std::string> names;
  const auto children =
      app.get_subcommands([](const CLI::App* a) { return !a->get_name().empty(); });
  for (const CLI::App* c : children) names.push_back(c->get_name());
  subs += fmt::format("  [\"{}\"]=\"{}\"\n", path, absl::StrJoin(names, " "));
  opts += fmt::format("  [\"{}\"]=\"{}\"\n", path, absl::StrJoin(words, " "));
  for (const CLI::App* c : children) {
    // A subcommand that falls through takes its parent's options too.
    Walk(*c, path + " " + c->get_name(), c->get_fallthrough() ? words : std::vector<std::string>{},
         subs, opts);
  }
}

}  // namespace

std::string CompletionScript(const CLI::App& root, const std::string& shell) {
  std::string subs, opts;
  Walk(root, "prewarm", {}, subs, opts);  // bash arrays take no empty key
  std::string script = fmt::format(
      R"(# prewarm {shell} completion: source it, or put it in your completion directory.
declare -gA _prewarm_subs=(
{subs})
declare -gA _prewarm_opts=(
{opts})
_prewarm() {{
  local cur="${{COMP_WORDS[COMP_CWORD]}}" path=prewarm w i
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="${{COMP_WORDS[i]}}"
    [[ " ${{_prewarm_subs[$path]}} " == *" $w "* ]] && path="$path $w"
  done
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "${{_prewarm_opts[$path]}}" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "${{_prewarm_subs[$path]}}" -- "$cur"))
  fi
}}
complete -F _prewarm prewarm
)",
      fmt::arg("shell", shell), fmt::arg("subs", subs), fmt::arg("opts", opts));
  if (shell == "zsh") script = "autoload -U +X bashcompinit && bashcompinit\n" + script;
  return script;
}

void AddCompletionCommand(CLI::App& app) {
  auto shell = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("completion", "print a shell completion script: bash or zsh");
  cmd->add_option("shell", *shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));
  cmd->callback([&app, shell] {
    std::cout << CompletionScript(app, *shell);
    throw CLI::Success();  // exit 0: nothing after the parse runs for this command
  });
}

}  // namespace prewarm::cli
