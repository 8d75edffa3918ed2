// libFuzzer target for ParseJoinString, which reads what an operator pastes
// (or a script passes along). Besides not crashing, every string it
// accepts must format back to a string that parses to the same fields.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "pki/join_string.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto join = gpulse::pki::ParseJoinString(text);
  if (!join.ok()) return 0;
  auto formatted = gpulse::pki::FormatJoinString(*join);
  if (!formatted.ok()) std::abort();
  auto again = gpulse::pki::ParseJoinString(*formatted);
  if (!again.ok() || !(*again == *join)) std::abort();
  return 0;
}
