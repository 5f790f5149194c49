#!/usr/bin/env bash
# The package test (./build.sh pack runs it after packing; a minute or two): a fresh console app outside the
# repository (tests/package/App) restores XDit.Engine and XDit.DemoModel from the local feed FEED alone, builds, draws
# the demo picture, and must write the very PNG that `xdit generate` draws for the same prompt, seed and steps.
# Also checks each library package carries the README and a .snupkg with its pdb.
#   tests/package/check.sh FEED VERSION
set -euo pipefail
feed="$(cd "$1" && pwd)"; version="$2"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
fail() { echo "package check: $*" >&2; exit 1; }
has() { grep -qxF "$2" <(unzip -Z1 "$1"); }   # a file: no pipe for grep -q to close early under pipefail

for p in Runtime Kernels Models Comm Engine; do
  nupkg="$feed/XDit.$p.$version.nupkg"; snupkg="$feed/XDit.$p.$version.snupkg"
  [ -f "$nupkg" ] || fail "$nupkg is missing"
  has "$nupkg" README.md || fail "$nupkg has no README.md"
  has "$snupkg" "lib/net10.0/XDit.$p.pdb" || fail "$snupkg has no XDit.$p.pdb"
done
has "$feed/XDit.DemoModel.$version.nupkg" contentFiles/any/any/models/demo/transformer/diffusion_pytorch_model.safetensors \
  || fail "XDit.DemoModel has no models/demo/transformer weights"

# SourceLink (in the .NET SDK) maps the pdbs to the commit on the origin remote when it is a hosted one (GitHub,
# GitLab, Azure Repos, Bitbucket); a clone without an origin, or cloned from a local folder, maps nothing
url=$(git -C "$repo" remote get-url origin 2>/dev/null || true)
if [[ "$url" =~ ^(https://|git@|ssh://) ]]; then
  unzip -p "$feed/XDit.Engine.$version.snupkg" lib/net10.0/XDit.Engine.pdb > "$work/engine.pdb"
  grep -aq '{"documents":' "$work/engine.pdb" || fail "XDit.Engine.pdb has no SourceLink map (origin is $url)"
else echo "package check: warning: no hosted origin remote (${url:-none}), so the pdbs carry no SourceLink map" >&2; fi
if [ -f "$repo/LICENSE" ]; then has "$feed/XDit.Engine.$version.nupkg" LICENSE || fail "XDit.Engine has no LICENSE"
else echo "package check: warning: the repository has no LICENSE, so the packages carry none" >&2; fi

cp "$repo/tests/package/App/Program.cs" "$repo/tests/package/App/App.csproj" "$work/"
# XDit.* only from the feed (packageSourceMapping), restored into a folder of this run, so no stale copy of the same
# version in ~/.nuget/packages is used; everything else from the machine's cache (a fallback folder) or nuget.org.
cat > "$work/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <config><add key="globalPackagesFolder" value="$work/packages" /></config>
  <packageSources><clear /><add key="local" value="$feed" /><add key="nuget.org" value="https://api.nuget.org/v3/index.json" /></packageSources>
  <fallbackPackageFolders><add key="machine" value="${NUGET_PACKAGES:-$HOME/.nuget/packages}" /></fallbackPackageFolders>
  <packageSourceMapping>
    <packageSource key="local"><package pattern="XDit.*" /></packageSource>
    <packageSource key="nuget.org"><package pattern="*" /></packageSource>
  </packageSourceMapping>
</configuration>
XML
(cd "$work" && dotnet build -c Release -nologo -v quiet -p:XditVersion="$version" -o out) || fail "the app did not build"
[ -f "$work/out/models/demo/model_index.json" ] || fail "models/demo was not copied beside the app"
(cd "$work/out" && dotnet App.dll "$work/app.png") || fail "the app failed"
"$repo/xdit" generate -p "a red circle on a blue background" --steps 20 --guidance-scale 4.5 --seed 42 -q -o "$work/cli.png"
cmp -s "$work/app.png" "$work/cli.png" || fail "the app's picture differs from xdit generate's"
echo "package check: a fresh app restored XDit.Engine $version and XDit.DemoModel from $feed and drew the demo picture ($(stat -c %s "$work/app.png") bytes, the same as xdit generate)"
