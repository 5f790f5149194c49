#!/usr/bin/env bash
# Packs what tests/gpu-check.sh (and gpu-attention-probe.sh) need on a lent GPU machine into .gpu/ (git-ignored),
# small enough that it travels with the tracked files under the device tool's 64 MiB:
#   bash tests/gpu-pack.sh [--check]
# - .gpu/bin.txz: XDit.Tests built in Release (it holds the xdit CLI and every library), framework-dependent, without
#   pdb or xml files nor the plotting libraries, managed or native (`xdit analyze` draws no PNGs there and says so),
#   xz-compressed;
# - .gpu/dotnet.txz: the .NET runtime of this machine's SDK (no SDK, no ASP.NET) without what only a debugger, a
#   tracer or another GC loads, nor the few framework assemblies nothing here uses (below), and each framework
#   assembly IL alone, without its ReadyToRun native code (tests/ILOnly: 18.1 → 8.4 MiB packed, for about 0.1-0.3 s
#   more JIT per process), xz-compressed; made once per runtime version (it takes minutes) and kept;
# - .gpu/env.sh: sourced there (tests/gpu-steps.sh does): unpacks both into /tmp once (xz, or Python's lzma where
#   xz is missing): the runtime into /tmp/dotnet (DOTNET_ROOT, on PATH), the build into .gpu/bin/XDit.Tests, where
#   tests/gpu-steps.sh runs xdit.dll and XDit.Tests.dll.
# It prints the sizes: the tracked files, .gpu/ and their sum against the limit, and fails above 62.5 MiB (1.5 MiB of
# room under the tool's 64). On 2026-12-07 the sum was 60.7 MiB (tracked 39.9, .gpu/ 20.8: runtime 18.1, build 2.7),
# then 47.9 MiB (tracked 36.8, .gpu/ 11.1: runtime 8.4, build 2.7) with the runtime IL-only and the large tokenizer
# files in tests/fixtures/tokenizers gzip-compressed: 14.6 MiB of room for new fixtures; later 61.3 MiB (tracked 50.7,
# .gpu/ 10.6: runtime 8.0, build 2.6) with the plotting and six more framework assemblies left out.
# XDit.Tests.CarryBudgetTests holds the tracked files to 51.5 MiB, leaving .gpu/ 11.
# --check: runs the packed build here on the packed runtime (xdit info, a golden fixture, the ledger, test classes),
# which shows that nothing the trimmed runtime lacks is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dn=$(dirname "$(readlink -f "$(command -v dotnet)")")
ver=$(dotnet --list-runtimes | awk '/^Microsoft.NETCore.App /{v=$2} END{print v}')
# Loaded only by a debugger (createdump, DAC, DBI), LTTng tracing, DOTNET_GCName, or by XML, DataContract,
# ADO.NET, Visual Basic, code-page encodings, mail, QUIC, WebRequest, TPL Dataflow or System.Transactions code, none
# of which XDit, xunit.v3 or System.CommandLine run (tests/gpu-rehearse.sh runs the whole check on what is left).
drop=(createdump libmscordaccore.so libmscordbi.so libcoreclrtraceptprovider.so libclrgc.so libclrgcexp.so
  System.Private.Xml.dll System.Private.Xml.Linq.dll System.Private.DataContractSerialization.dll System.Data.Common.dll
  Microsoft.VisualBasic.Core.dll System.Text.Encoding.CodePages.dll System.Net.Mail.dll System.Net.Quic.dll
  System.Net.Requests.dll System.Threading.Tasks.Dataflow.dll System.Transactions.Local.dll)
mkdir -p .gpu
if [ "$(cat .gpu/dotnet.version 2>/dev/null)" != "$ver-trimmed-il-2" ] || [ ! -f .gpu/dotnet.txz ]; then
  stage=$(mktemp -d)
  mkdir -p "$stage/host" "$stage/shared/Microsoft.NETCore.App"
  cp -a "$dn/dotnet" "$stage/"
  cp -a "$dn/host/fxr" "$stage/host/"
  cp -a "$dn/shared/Microsoft.NETCore.App/$ver" "$stage/shared/Microsoft.NETCore.App/"
  for f in "${drop[@]}"; do rm -f "$stage/shared/Microsoft.NETCore.App/$ver/$f"; done
  # the framework assemblies without their ReadyToRun native code (tests/ILOnly says why and what it costs)
  dotnet run --project tests/ILOnly -c Release -v q -- "$stage/shared/Microsoft.NETCore.App/$ver"
  tar cf - -C "$stage" . | xz -9e -T1 >.gpu/dotnet.txz.tmp
  mv .gpu/dotnet.txz.tmp .gpu/dotnet.txz
  rm -rf "$stage" .gpu/dotnet.tgz
  echo "$ver-trimmed-il-2" >.gpu/dotnet.version
fi
bin=$(mktemp -d)
dotnet build tests/XDit.Tests/XDit.Tests.csproj -c Release -o "$bin" --nologo -v q -p:DebugType=none -p:GenerateDocumentationFile=false \
  -p:SatelliteResourceLanguages=en -p:XDitPlotNatives=none >/dev/null
find "$bin" \( -name '*.pdb' -o -name '*.xml' \) -delete
# the plotting assemblies too (ScottPlot, SkiaSharp, HarfBuzzSharp: 1.8 MB, 0.6 MiB packed): only `xdit analyze`'s
# PNGs use them, and it says it writes none when they are missing (RedundancyPlots.IsMissingPlotLibrary)
rm -f "$bin"/ScottPlot.dll "$bin"/SkiaSharp*.dll "$bin"/HarfBuzzSharp.dll
tar cf - -C "$bin" . | xz -6 -T1 >.gpu/bin.txz
rm -rf "$bin" .gpu/bin .gpu/check
cat >.gpu/env.sh <<'ENV'
# Sourced on the GPU machine (written by tests/gpu-pack.sh): unpacks the carried .NET runtime and build once.
_gpu_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_gpu_unpack() {   # archive folder
  mkdir -p "$2"
  if command -v xz >/dev/null; then tar xJf "$1" -C "$2"
  else python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"; fi
}
# tests/gpu-rehearse.sh unpacks into its own folder (XDIT_REHEARSE), so this machine's /tmp/dotnet is never stale there
export DOTNET_ROOT=${XDIT_REHEARSE:-/tmp}/dotnet
[ -x "$DOTNET_ROOT/dotnet" ] || _gpu_unpack "$_gpu_dir/dotnet.txz" "$DOTNET_ROOT"
# the build into .gpu/bin/XDit.Tests (inside the project: the tests find their data above it), again whenever the
# carried one is newer than what was unpacked
_gpu_bin="$_gpu_dir/bin/XDit.Tests"
if [ ! -f "$_gpu_bin/XDit.Tests.dll" ] || [ "$_gpu_dir/bin.txz" -nt "$_gpu_bin/XDit.Tests.dll" ]; then
  rm -rf "$_gpu_bin" && _gpu_unpack "$_gpu_dir/bin.txz" "$_gpu_bin" && touch "$_gpu_bin/XDit.Tests.dll"
fi
export PATH="$DOTNET_ROOT:/usr/local/cuda/bin:$PATH"
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 TESTINGPLATFORM_TELEMETRY_OPTOUT=1
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
ENV
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
tracked=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
carried=$(find .gpu -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
echo "tracked files $(mib "$tracked"), .gpu/ $(mib "$carried") (runtime $(mib "$(stat -c %s .gpu/dotnet.txz)"), build $(mib "$(stat -c %s .gpu/bin.txz)")): $(mib $((tracked + carried))) of the 64 MiB the device tool carries"
if [ "${1:-}" = --check ]; then
  check="$root/.gpu/check"   # inside the project, as on the GPU machine: the tests look for their data above them
  rm -rf "$check" && mkdir -p "$check/rt" "$check/bin"
  trap 'rm -rf "$check"' EXIT   # never carried
  tar xJf .gpu/dotnet.txz -C "$check/rt"
  tar xJf .gpu/bin.txz -C "$check/bin"
  run() { echo "--- $*"; DOTNET_ROOT="$check/rt" "$check/rt/dotnet" "$@"; }
  run "$check/bin/xdit.dll" info
  run "$check/bin/xdit.dll" verify tests/fixtures/pipe_pixart_sigma
  run "$check/bin/xdit.dll" bench --what forward --ledger --forward-model sd3-tiny | tail -2
  run "$check/bin/XDit.Tests.dll" -noColor -class XDit.Tests.Bench.LedgerArithmeticTests -class XDit.Tests.Bench.LedgerCommandTests -class XDit.Tests.Runtime.RandomCheckpointTests \
    -class XDit.Tests.Models.TokenizerFileTests | tail -1
fi
[ $((tracked + carried)) -lt $((125 << 19)) ] || { echo "too large to carry with room: over 62.5 MiB" >&2; exit 1; }
