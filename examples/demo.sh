#!/bin/sh
# The README's example: `incident report` on examples/wingate.log (the old incident.pl's WinGate scan),
# with every lookup answered by the local sandbox (tests/sandbox: RDAP, DNS and whois servers on
# 127.0.0.1), so it runs without internet and writes to nobody. Nothing is sent: no SMTP server is
# configured, so the report is written under a temporary folder and shown.
set -eu
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
incident=${INCIDENT:-.venv/bin/incident}
work=$(mktemp -d)
"$py" -m tests.sandbox --config-out "$work/incident.toml" >"$work/sandbox.log" 2>&1 &
sandbox=$!
trap 'kill $sandbox 2>/dev/null; wait $sandbox 2>/dev/null || true' EXIT
i=0
until [ -s "$work/incident.toml" ]; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 $sandbox 2>/dev/null; then
        echo "demo: the local sandbox did not start:" >&2; cat "$work/sandbox.log" >&2; exit 1
    fi
    sleep 0.1
done
echo "\$ incident scan examples/wingate.log"
"$incident" --config "$work/incident.toml" scan examples/wingate.log
echo
echo "\$ incident report -b -d '...' examples/wingate.log"
"$incident" --config "$work/incident.toml" report -b \
    -d "Scan of our network for vulnerable WinGate services." examples/wingate.log
echo
echo "--- the report as written ---"
cat "$work"/incident/*/*/orig_email.txt
echo "(incident folder: $(dirname "$work"/incident/*/*/orig_email.txt))"
