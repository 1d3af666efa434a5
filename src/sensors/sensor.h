// A sensor is the user-space side of one group of BPF programs: it loads and attaches them,
// reads their events and reports whether it is up. The agent owns sensors and starts/stops them
// from the control thread.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace loupe::sensors {

class Sensor {
 public:
  virtual ~Sensor() = default;
  virtual const std::string& name() const = 0;
  // Loads and attaches. On error nothing stays attached.
  [[nodiscard]] virtual absl::Status Start() = 0;
  // Detaches everything; idempotent.
  virtual void Stop() = 0;
  virtual bool up() const = 0;
  // Why the sensor is not up (empty when it is).
  virtual std::string status_detail() const = 0;
};

}  // namespace loupe::sensors
