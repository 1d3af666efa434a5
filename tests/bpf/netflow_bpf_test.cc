#include <chrono>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/metrics/registry.h"
#include "src/sensors/netflow_sensor.h"
#include "tests/bpf/bpf_test_util.h"

namespace loupe::sensors {
namespace {

using ::loupe::testing::Shell;
using ::loupe::testing::VethPair;
using ::testing::HasSubstr;
using ::testing::Not;

double SampleValue(const metrics::Registry& registry, const std::string& name) {
  for (const auto& family : registry.Collect()) {
    if (family.name == name && !family.samples.empty()) return family.samples[0].value;
  }
  return -1;
}

std::string Qdiscs(const std::string& dev) {
  std::string out;
  Shell("tc qdisc show dev " + dev, &out);
  return out;
}

TEST(NetflowBpfTest, CountsPacketsOnSelectedInterfaceAndCleansUp) {
  LOUPE_REQUIRE_ROOT();
  VethPair veth;
  metrics::Registry registry;
  {
    NetflowSensor sensor({{veth.host_if()}, {}}, registry);
    ASSERT_TRUE(sensor.Start().ok());
    EXPECT_TRUE(sensor.up());
    EXPECT_EQ(sensor.attached_interfaces(), std::vector<std::string>{veth.host_if()});
    EXPECT_THAT(Qdiscs(veth.host_if()), HasSubstr("clsact"));

    // 3 echo requests and 3 replies cross the host side of the veth: each is seen once on
    // ingress or egress. ARP may add a few more packets.
    ASSERT_EQ(Shell("ping -c 3 -i 0.2 -W 1 " + veth.peer_ip()), 0);
    double events = 0;
    for (int i = 0; i < 100 && events < 6; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      events = SampleValue(registry, "loupe_bpf_events_total");
    }
    EXPECT_GE(events, 6);
    EXPECT_LE(events, 12);
    EXPECT_EQ(SampleValue(registry, "loupe_bpf_events_lost_total"), 0);
    EXPECT_EQ(SampleValue(registry, "loupe_netflow_interfaces"), 1);
    sensor.Stop();
    EXPECT_FALSE(sensor.up());
  }
  // The sensor created the clsact qdisc, so it removed it.
  EXPECT_THAT(Qdiscs(veth.host_if()), Not(HasSubstr("clsact")));
}

TEST(NetflowBpfTest, KeepsAQdiscItDidNotCreate) {
  LOUPE_REQUIRE_ROOT();
  VethPair veth;
  ASSERT_EQ(Shell("tc qdisc add dev " + veth.host_if() + " clsact"), 0);
  metrics::Registry registry;
  {
    NetflowSensor sensor({{veth.host_if()}, {}}, registry);
    ASSERT_TRUE(sensor.Start().ok());
    std::string filters;
    Shell("tc filter show dev " + veth.host_if() + " ingress", &filters);
    EXPECT_THAT(filters, HasSubstr("tc__ingress"));
  }
  EXPECT_THAT(Qdiscs(veth.host_if()), HasSubstr("clsact"));
  std::string filters;
  Shell("tc filter show dev " + veth.host_if() + " ingress; tc filter show dev " + veth.host_if() +
            " egress",
        &filters);
  EXPECT_EQ(filters, "");
}

TEST(NetflowBpfTest, ExcludedInterfacesAreNotTouched) {
  LOUPE_REQUIRE_ROOT();
  VethPair veth;
  metrics::Registry registry;
  NetflowSensor sensor({{veth.host_if()}, {"lpth*"}}, registry);
  // Nothing selected is not an error: there is nothing to observe yet.
  ASSERT_TRUE(sensor.Start().ok());
  EXPECT_TRUE(sensor.attached_interfaces().empty());
  EXPECT_THAT(Qdiscs(veth.host_if()), Not(HasSubstr("clsact")));
}

}  // namespace
}  // namespace loupe::sensors
