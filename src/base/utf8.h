// UTF-8 validation and repair for strings that come from the wire (HTTP paths, hosts, process
// names). Protobuf string fields (Observer API flows, OTLP spans), JSON and Prometheus all
// require valid UTF-8: a receiver rejects a whole message otherwise, and nlohmann::json throws.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace loupe {

// U+FFFD, what each invalid byte becomes.
inline constexpr std::string_view kUtf8ReplacementCharacter = "\xEF\xBF\xBD";

// Length of the valid UTF-8 sequence at text[i] (1 for ASCII), or 0 when the byte there does not
// start one (stray continuation byte, overlong form, surrogate, above U+10FFFF, truncated).
size_t Utf8SequenceLength(std::string_view text, size_t i);

bool IsValidUtf8(std::string_view text);

// `text` with each byte that does not begin a valid sequence replaced by U+FFFD.
std::string SanitizeUtf8(std::string_view text);

// Replaces *text with SanitizeUtf8(*text) when it is not valid; returns whether it changed.
// ASCII-only strings (the common case) cost one pass and no allocation.
bool MakeValidUtf8(std::string* text);

// Appends `text` to *out as a JSON string literal: quoted; `"`, `\` and control characters
// escaped (\b \t \n \f \r, else \u00xx), as nlohmann::json writes them; other characters as
// they are, each byte that does not begin a valid UTF-8 sequence replaced by U+FFFD.
void AppendJsonString(std::string_view text, std::string* out);

}  // namespace loupe
