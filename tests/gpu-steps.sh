# Sourced by tests/gpu-check.sh and tests/gpu-attention-probe.sh on a lent GPU machine: the packed build's
# environment (.gpu/env.sh, from tests/gpu-pack.sh), $out ($OUT, ./gpu-out elsewhere), a folder $logs for the
# step logs, the xdit and test commands, and step NAME COMMAND...: runs the command with its output in
# $logs/NAME.log, adds "NAME: exit RC, N s (limit L s)" to $out/summary.txt and packs every log again into
# $out/$logs_archive (default logs.tgz; the device tool brings back at most 8 files). A step's time limit is $LIMIT
# seconds (default 150) cut to what is left of DEADLINE (seconds since the start, default 520, so the run ends
# inside the tool's timeout_s); STEPS, a regular expression over the step names (default: all), runs a part.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-gpu-out}"
logs=$(mktemp -d)
mkdir -p "$out"
# shellcheck disable=SC1091
source .gpu/env.sh
# the rehearsal without a GPU (tests/gpu-rehearse.sh): its stand-ins for nvidia-smi, nvcc, compute-sanitizer and dotnet
# come first; unset on the GPU machine
[ -n "${XDIT_REHEARSE:-}" ] && export PATH="$XDIT_REHEARSE/bin:$PATH"
xdit=(dotnet .gpu/bin/XDit.Tests/xdit.dll)
tests=(dotnet .gpu/bin/XDit.Tests/XDit.Tests.dll -noColor)
deadline=${DEADLINE:-520}
logs_archive=${logs_archive:-logs.tgz}

step() {
  local name=$1 start rc limit
  shift
  [[ $name =~ ${STEPS:-.} ]] || return 0
  limit=$((deadline - SECONDS - 10))
  [ "${LIMIT:-150}" -lt "$limit" ] && limit=${LIMIT:-150}
  if [ "$limit" -lt 10 ]; then echo "$name: skipped, no time left" | tee -a "$out/summary.txt"; return 0; fi
  start=$(date +%s)
  timeout "$limit" "$@" >"$logs/$name.log" 2>&1
  rc=$?
  echo "$name: exit $rc, $(($(date +%s) - start)) s (limit $limit s)" | tee -a "$out/summary.txt"
  tar czf "$out/$logs_archive" -C "$logs" .
}
