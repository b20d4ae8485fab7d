#!/usr/bin/env bash
# Fails when the policy archive needs a symbol that is not from the C++
# standard library or the C runtime (or, in a sanitized build, the
# sanitizers' runtime, which the compiler itself calls).
set -euo pipefail
archive=$1
undefined=$(nm -C -u -j "$archive" | grep -vE '(^$|\.o:$)' | sort -u)
[ -n "$undefined" ] || { echo "no undefined symbols found in $archive: nm failed?"; exit 1; }
bad=$(grep -vE '^(std::|operator (new|delete)|__cxa_|__gxx_|__cxx|_Unwind_|__stack_chk_fail|__dso_handle|_GLOBAL_OFFSET_TABLE_|(vtable|VTT|typeinfo) for (std::|__cxxabiv1)|mem(cpy|move|set|cmp)$|str(len|cmp)$|__assert_fail$|__gcc_personality|__tls_get_addr$|pthread_|abort$|__(asan|ubsan|tsan|lsan|sanitizer)_)' <<<"$undefined" || true)
if [ -n "$bad" ]; then
  echo "groupscaler_policy needs symbols from outside the standard library:"
  echo "$bad"
  exit 1
fi
echo "groupscaler_policy: $(wc -l <<<"$undefined") undefined symbols, all from the standard library"
