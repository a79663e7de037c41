// One definition per template (issue 19, common/template_file.h): one directory of
// template files, read by the orchestrator, an agent and the forecaster, gives each the
// same template, each its own keys of it; and a template defined twice is an error.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "agent/config.h"
#include "forecast/service/config.h"
#include "orchestrator/config.h"

namespace prewarm::cli {
namespace {

constexpr const char* kStatic = R"(name: static
command: [/usr/bin/prewarm-httpd, --root, /srv/content]
memory: 32MiB
preload: [index.html]
concurrency: 50
)";

constexpr const char* kVideo = R"(name: video
command: [/opt/video/start.sh]
memory: 96MiB
scratch: 256MiB
preload: [video/intro.mp4]
tier: premium
service_time_s: 2.5
concurrency: 4
keepalive_s: 90
start_time_s: 0.4
)";

constexpr const char* kOrchestrator = R"(template_dir: templates
services:
  - {name: www, template: static}
  - {name: tv, template: video}
regions:
  - {name: frankfurt, latitude: 50.11, longitude: 8.68}
default_region: frankfurt
)";

constexpr const char* kAgent =
    R"(node: {id: fra-1, region: frankfurt, latitude: 50.11, longitude: 8.68}
orchestrator: 127.0.0.1:7400
capacity: {slots: 4, memory: 1GiB}
addresses: {range: 127.77.1.0/24, port: 80, standby: 1}
origin: http://127.0.0.1:8400
template_dir: templates
)";

constexpr const char* kForecaster = R"(orchestrator: 127.0.0.1:7400
template_dir: templates
)";

class TemplateDirTest : public ::testing::Test {
 protected:
  TemplateDirTest() {
    char tmpl[] = "/tmp/prewarm-template-dir.XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::filesystem::create_directory(dir_ + "/templates");
    Write("templates/static.yaml", kStatic);
    Write("templates/video.yaml", kVideo);
    Write("orchestrator.yaml", kOrchestrator);
    Write("agent.yaml", kAgent);
    Write("forecaster.yaml", kForecaster);
  }
  ~TemplateDirTest() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& file, const std::string& text) {
    std::ofstream(dir_ + "/" + file) << text;
  }
  std::string Path(const std::string& file) const { return dir_ + "/" + file; }
  std::string dir_;
};

TEST_F(TemplateDirTest, EachDaemonTakesItsKeysOfTheSameFiles) {
  // Loaded from another working directory: template_dir is beside each config file.
  auto orch = orchestrator::LoadOrchestratorConfig(Path("orchestrator.yaml"));
  ASSERT_TRUE(orch.ok()) << orch.status();
  ASSERT_TRUE(orch->templates.contains("video"));
  const orchestrator::TemplateInfo& video = orch->templates.at("video");
  EXPECT_EQ(video.tier, "premium");
  EXPECT_DOUBLE_EQ(video.service_time_s, 2.5);
  EXPECT_EQ(video.concurrency, 4u);
  EXPECT_EQ(video.keepalive_ms, 90'000);
  EXPECT_EQ(orch->templates.at("static").concurrency, 50u);
  EXPECT_EQ(orch->templates.at("static").tier, "standard");

  auto agent = agent::LoadAgentConfig(Path("agent.yaml"));
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_EQ(agent->templates.size(), 2u);
  const agent::TemplateConfig* av = agent->FindTemplate("video");
  ASSERT_NE(av, nullptr);
  EXPECT_EQ(av->memory_bytes, 96ull << 20);
  EXPECT_EQ(av->scratch_bytes, 256ull << 20);
  EXPECT_EQ(av->preload, std::vector<std::string>{"video/intro.mp4"});

  auto fc = forecast::LoadForecasterConfig(Path("forecaster.yaml"));
  ASSERT_TRUE(fc.ok()) << fc.status();
  const forecast::TemplatePlan plan = fc->Plan("video");
  EXPECT_DOUBLE_EQ(plan.per_instance_concurrency, 4);
  EXPECT_DOUBLE_EQ(plan.start_time_s, 0.4);
  EXPECT_DOUBLE_EQ(plan.service_time_s, 0) << "the orchestrator's, sent with its events";
  EXPECT_EQ(plan.preload, av->preload);
  EXPECT_EQ(plan.scratch_bytes, av->scratch_bytes);
  EXPECT_EQ(fc->Plan("static").scratch_bytes, agent->FindTemplate("static")->scratch_bytes)
      << "a file without scratch: the agent's default in both";
  EXPECT_DOUBLE_EQ(fc->Plan("static").per_instance_concurrency, 50);
}

TEST_F(TemplateDirTest, ATemplateDefinedTwiceIsAnErrorNamingWhere) {
  std::string text = kOrchestrator;
  text.insert(text.find("regions:"), "  - {name: t2, template: video, concurrency: 8}\n");
  Write("orchestrator.yaml", text);
  auto orch = orchestrator::LoadOrchestratorConfig(Path("orchestrator.yaml"));
  ASSERT_FALSE(orch.ok());
  EXPECT_NE(orch.status().message().find("concurrency"), std::string::npos) << orch.status();
  EXPECT_NE(orch.status().message().find("defined in template_dir " + Path("templates")),
            std::string::npos)
      << orch.status();

  Write("agent.yaml", std::string(kAgent) + "templates:\n  - {name: video, command: [/x]}\n");
  auto agent = agent::LoadAgentConfig(Path("agent.yaml"));
  ASSERT_FALSE(agent.ok());
  EXPECT_NE(agent.status().message().find("also in template_dir"), std::string::npos)
      << agent.status();

  Write("forecaster.yaml", std::string(kForecaster) + "templates:\n  - {name: static}\n");
  auto fc = forecast::LoadForecasterConfig(Path("forecaster.yaml"));
  ASSERT_FALSE(fc.ok());
  EXPECT_NE(fc.status().message().find("also in template_dir"), std::string::npos) << fc.status();
}

TEST_F(TemplateDirTest, ABadValueInAFileFailsEveryDaemonWithTheFileAndKey) {
  Write("templates/video.yaml", std::string(kVideo) + "bogus: 1\n");
  auto agent = agent::LoadAgentConfig(Path("agent.yaml"));
  ASSERT_FALSE(agent.ok());
  EXPECT_NE(agent.status().message().find("bogus"), std::string::npos) << agent.status();

  std::string text = kVideo;
  text.replace(text.find("concurrency: 4"), 14, "concurrency: 0");
  Write("templates/video.yaml", text);
  for (const absl::Status& st :
       {orchestrator::LoadOrchestratorConfig(Path("orchestrator.yaml")).status(),
        agent::LoadAgentConfig(Path("agent.yaml")).status(),
        forecast::LoadForecasterConfig(Path("forecaster.yaml")).status()}) {
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find(Path("templates/video.yaml")), std::string::npos) << st;
    EXPECT_NE(st.message().find("concurrency"), std::string::npos) << st;
  }
}

}  // namespace
}  // namespace prewarm::cli
