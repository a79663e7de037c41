#include "agent/runtime/oci/mounter.h"

#include "gtest/gtest.h"

namespace prewarm::agent::oci {
namespace {

constexpr char kMountinfo[] =
    "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "90 22 0:50 / /run/prewarm/n/instances/a/scratch rw - tmpfs tmpfs rw,size=65536k\n"
    "91 22 0:51 / /run/prewarm/n/instances/a/rootfs ro - overlay overlay ro,lowerdir=x:y\n"
    "92 91 0:52 / /run/prewarm/n/instances/a/rootfs/srv rw - tmpfs tmpfs rw\n"
    "93 22 0:53 / /run/prewarm/n/instances/with\\040space rw - tmpfs tmpfs rw\n"
    "94 22 0:54 / /run/prewarm/n2/instances/b/scratch rw - tmpfs tmpfs rw\n";

TEST(ParseMountsUnderTest, ListsMountsBelowDirDeepestFirst) {
  auto mounts = ParseMountsUnder(kMountinfo, "/run/prewarm/n/instances");
  ASSERT_EQ(mounts.size(), 4u);
  EXPECT_EQ(mounts[0], "/run/prewarm/n/instances/a/rootfs/srv");
  EXPECT_NE(std::find(mounts.begin(), mounts.end(), "/run/prewarm/n/instances/with space"),
            mounts.end());
  for (const auto& m : mounts) EXPECT_EQ(m.find("/n2/"), std::string::npos);
}

}  // namespace
}  // namespace prewarm::agent::oci
