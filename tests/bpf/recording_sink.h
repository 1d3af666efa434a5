// A FlowSink for BPF tests: records everything and lets a test wait for a condition.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "src/sensors/flow_sink.h"

namespace loupe::testing {

class RecordingSink final : public sensors::FlowSink {
 public:
  struct DnsPacket {
    flow::Flow flow;
    std::string payload;
  };

  void OnFlow(flow::Flow&& f) override {
    std::lock_guard<std::mutex> lock(mu_);
    flows_.push_back(std::move(f));
    cv_.notify_all();
  }
  void OnLost(const flow::LostEvent& lost) override {
    std::lock_guard<std::mutex> lock(mu_);
    lost_.push_back(lost);
    cv_.notify_all();
  }
  void OnTcpEvent(const sensors::TcpEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    tcp_.push_back(event);
    cv_.notify_all();
  }
  void OnDnsPacket(flow::Flow&& f, std::span<const uint8_t> payload) override {
    std::lock_guard<std::mutex> lock(mu_);
    dns_.push_back({std::move(f), std::string(payload.begin(), payload.end())});
    cv_.notify_all();
  }

  std::vector<flow::Flow> flows() const {
    std::lock_guard<std::mutex> lock(mu_);
    return flows_;
  }
  std::vector<sensors::TcpEvent> tcp() const {
    std::lock_guard<std::mutex> lock(mu_);
    return tcp_;
  }
  std::vector<flow::LostEvent> lost() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lost_;
  }

  // Waits until `pred` (called under the lock with this sink) holds, or the deadline passes.
  bool WaitFor(const std::function<bool(const RecordingSink&)>& pred,
               std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(*this); });
  }

  // Unlocked accessors for WaitFor predicates.
  const std::vector<flow::Flow>& flows_locked() const { return flows_; }
  const std::vector<sensors::TcpEvent>& tcp_locked() const { return tcp_; }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<flow::Flow> flows_;
  std::vector<flow::LostEvent> lost_;
  std::vector<sensors::TcpEvent> tcp_;
  std::vector<DnsPacket> dns_;
};

}  // namespace loupe::testing
