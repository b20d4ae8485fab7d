#include "common/heap_trimmer.h"

#include <malloc.h>

namespace groupscaler {

HeapTrimmer::HeapTrimmer(const Clock* clock, std::chrono::milliseconds interval,
                         std::function<void()> trim)
    : thread_([clock, interval, trim = std::move(trim)](std::stop_token stop) {
        while (clock->SleepFor(interval, stop)) trim();
      }) {}

void HeapTrimmer::DefaultTrim() { ::malloc_trim(0); }

}  // namespace groupscaler
