// Kernel drop reasons (enum skb_drop_reason) by name, read from the running kernel's BTF so the
// numbering is right on every kernel, and their mapping onto Hubble's DropReason enum. See
// docs/design/drop-reasons.md for the mapping and for which reasons are normal consumption.
//
// Thread-safe: the BTF is read once, on first use.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace loupe::sensors {

// The kernel's name of a drop reason without the SKB_DROP_REASON_ prefix ("NO_SOCKET",
// "NETFILTER_DROP"), or "" when this kernel has no such value (or no BTF).
const char* KernelDropReasonName(uint16_t reason);

// The value of a reason name on this kernel, or -1 when absent.
int KernelDropReasonValue(std::string_view name);

// Hubble DropReason value (flow.proto numbering) for a kernel reason name; 0
// (DROP_REASON_UNKNOWN) when Hubble has no matching reason.
uint32_t HubbleDropReasonForKernelName(std::string_view name);

// HubbleDropReasonForKernelName(KernelDropReasonName(reason)).
uint32_t HubbleDropReasonForKernel(uint16_t reason);

// Reasons that are normal consumption of packets rather than drops, found on Linux 6.18 (see the
// design note); the drop sensor filters them in the kernel.
const std::vector<std::string>& NormalConsumptionReasonNames();

}  // namespace loupe::sensors
