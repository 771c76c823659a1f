#!/bin/sh
# Runs a libFuzzer binary briefly and records the run as a one-case
# GoogleTest-style XML, so the test summary counts it.
# usage: run_fuzz.sh FUZZER XML RUNS
fuzzer=$1 xml=$2 runs=$3
name=$(basename "$xml" .xml)
mkdir -p "$(dirname "$xml")"
log=$(mktemp)
start=$(date +%s)
"$fuzzer" -runs="$runs" -seed=1 -max_len=4096 -timeout=10 -rss_limit_mb=1024 \
    -artifact_prefix="$(dirname "$xml")/$name-" > "$log" 2>&1
rc=$?
secs=$(( $(date +%s) - start ))
tail -5 "$log"
if [ $rc -eq 0 ]; then
    failure=""
    nfail=0
else
    msg=$(grep -m1 -E "ERROR|runtime error|deadly signal|Abort" "$log" | sed 's/[<>&"]/_/g')
    failure="<failure message=\"$name exited $rc: $msg\"/>"
    nfail=1
    cat "$log"
fi
cat > "$xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="1" failures="$nfail" errors="0" name="AllTests">
  <testsuite name="$name" tests="1" failures="$nfail" errors="0" time="$secs">
    <testcase name="Runs$runs" classname="$name" time="$secs">$failure</testcase>
  </testsuite>
</testsuites>
XML
rm -f "$log"
exit $rc
