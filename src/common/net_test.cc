#include "common/net.h"

#include <gtest/gtest.h>

namespace prewarm {
namespace {

TEST(IpAddrTest, ParsesAndPrintsBothFamilies) {
  auto v4 = IpAddr::Parse("203.0.113.7");
  ASSERT_TRUE(v4.ok());
  EXPECT_TRUE(v4->is_v4());
  EXPECT_EQ(v4->ToString(), "203.0.113.7");
  EXPECT_EQ(v4->v4_host_order(), 0xCB007107u);
  auto v6 = IpAddr::Parse("2001:db8::1");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(v6->is_v6());
  EXPECT_EQ(v6->ToString(), "2001:db8::1");
  EXPECT_FALSE(IpAddr::Parse("300.1.1.1").ok());
  EXPECT_FALSE(IpAddr::Parse("").ok());
}

TEST(CidrTest, ContainsOnlyItsOwnFamilyAndPrefix) {
  auto c = Cidr::Parse("198.51.100.77/24");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->ToString(), "198.51.100.0/24");
  EXPECT_TRUE(c->Contains(*IpAddr::Parse("198.51.100.200")));
  EXPECT_FALSE(c->Contains(*IpAddr::Parse("198.51.101.1")));
  EXPECT_FALSE(c->Contains(*IpAddr::Parse("::ffff:198.51.100.1")));
  EXPECT_FALSE(Cidr::Parse("10.0.0.0/33").ok());
  EXPECT_FALSE(Cidr::Parse("10.0.0.0/x").ok());
  auto odd = Cidr::Parse("10.1.2.3/13");
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->base.ToString(), "10.0.0.0");
}

TEST(CidrTest, HostAddressesSkipTheNetworkBroadcastAndAnycastAddresses) {
  Cidr v4 = *Cidr::Parse("127.77.1.0/24");
  EXPECT_EQ(v4.HostCount(), 254u);
  EXPECT_EQ(v4.Host(0).ToString(), "127.77.1.1");
  EXPECT_EQ(v4.Host(253).ToString(), "127.77.1.254");
  EXPECT_EQ(v4.HostIndex(*IpAddr::Parse("127.77.1.7")), 6u);
  EXPECT_FALSE(v4.HostIndex(*IpAddr::Parse("127.77.1.0")).has_value());
  EXPECT_FALSE(v4.HostIndex(*IpAddr::Parse("127.77.1.255")).has_value());
  EXPECT_FALSE(v4.HostIndex(*IpAddr::Parse("127.77.2.1")).has_value());
  EXPECT_EQ(Cidr::Parse("10.0.0.0/31")->HostCount(), 0u);

  Cidr v6 = *Cidr::Parse("2001:db8:77::/64");
  EXPECT_EQ(v6.HostCount(), uint64_t{1} << 32);
  EXPECT_EQ(v6.Host(0).ToString(), "2001:db8:77::1");
  EXPECT_EQ(v6.Host(0x1ff).ToString(), "2001:db8:77::200");
  EXPECT_EQ(v6.HostIndex(*IpAddr::Parse("2001:db8:77::200")), 0x1ffu);
  EXPECT_FALSE(v6.HostIndex(*IpAddr::Parse("2001:db8:77::")).has_value());
  EXPECT_FALSE(v6.HostIndex(*IpAddr::Parse("2001:db8:77:0:1::1")).has_value());  // past 2^32
  EXPECT_FALSE(v6.HostIndex(*IpAddr::Parse("127.77.1.7")).has_value());
  Cidr small = *Cidr::Parse("2001:db8::/126");
  EXPECT_EQ(small.HostCount(), 3u);
  EXPECT_EQ(small.Host(2).ToString(), "2001:db8::3");
  EXPECT_EQ(small.HostIndex(*IpAddr::Parse("2001:db8::3")), 2u);
}

TEST(HostPortTest, ParsesV4V6AndRejectsJunk) {
  auto hp = HostPort::Parse("127.0.0.1:5353");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->port, 5353);
  auto hp6 = HostPort::Parse("[::1]:53");
  ASSERT_TRUE(hp6.ok());
  EXPECT_EQ(hp6->ToString(), "[::1]:53");
  EXPECT_FALSE(HostPort::Parse("127.0.0.1").ok());
  EXPECT_FALSE(HostPort::Parse("127.0.0.1:99999").ok());
}

TEST(ListenTcpTest, BindsLoopbackAliasWithoutConfiguringIt) {
  // All of 127.0.0.0/8 routes to lo, so an instance address needs no ip-addr setup.
  auto fd = ListenTcp(*IpAddr::Parse("127.77.200.9"), 0);
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_TRUE(fd->valid());
}

}  // namespace
}  // namespace prewarm
