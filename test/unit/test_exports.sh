#!/usr/bin/env bash
# The shared runtime exports exactly the functions its public headers
# declare with SKV_API: nothing undocumented (internal helpers, the driver
# table), nothing documented missing.
#   test_exports.sh LIBRARY HEADER...
set -euo pipefail
library=$1
shift
declared=$(grep -ho 'SKV_API [^(]*\bskv_[a-z0-9_]*(' "$@" |
  grep -o 'skv_[a-z0-9_]*($' | tr -d '(' | sort -u)
exported=$(nm -D --defined-only "$library" | awk '{print $NF}' | sort -u)
if [ "$declared" != "$exported" ]; then
  echo "FAIL: $library exports other symbols than the SKV_API declarations:"
  diff <(echo "$declared") <(echo "$exported") | sed -n 's/^</  declared, not exported:/p; s/^>/  exported, not declared:/p'
  exit 1
fi
echo "PASS: $library exports the $(echo "$declared" | wc -l) functions declared SKV_API"
