#!/usr/bin/env bash
# A short fuzz pass over every fuzz target (part of make test). Each target
# runs for FUZZTIME (default 3s) beyond its seed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${FUZZTIME:-3s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
passed=0
while read -r pkg dir; do
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    echo "fuzz $pkg $target ($t)"
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$t" "$pkg" >"$log" 2>&1; then
      cat "$log"
      echo "fuzz: $passed passed, 1 failed"
      exit 1
    fi
    passed=$((passed + 1))
  done
done < <(go list -f '{{.ImportPath}} {{.Dir}}' ./...)
echo "fuzz: $passed passed, 0 failed"
