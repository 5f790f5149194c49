#!/usr/bin/env bash
# The published single-file xdit (./build.sh publish runs this after publishing): copied alone into an empty folder
# outside the repository, with an empty cache and, where `unshare` may mount (root in a container or VM), the .NET
# installation hidden behind an empty folder, it must draw the demo picture from the model it carries, the very PNG
# `./xdit generate` draws.
#   tests/publish-check.sh PATH/TO/xdit
set -euo pipefail
bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
fail() { echo "publish check: $*" >&2; exit 1; }
cp "$bin" "$work/xdit"
# A user's home exists: the single file unpacks its native libraries (the plots' SkiaSharp) under ~/.net on first run.
mkdir -p "$work/home"
args=(generate -p "a red circle on a blue background" --steps 20 --seed 42 -q -o "$work/single.png")
run=(env -i PATH=/usr/bin:/bin HOME="$work/home" XDG_CACHE_HOME="$work/cache" "$work/xdit" "${args[@]}")
dotnet_root="$(dirname "$(readlink -f "$(command -v dotnet)")")"
if [ -n "$dotnet_root" ] && unshare -m true 2>/dev/null; then
  how="with $dotnet_root hidden (unshare -m, an empty tmpfs over it)"
  (cd "$work" && unshare -m sh -c "mount -t tmpfs none '$dotnet_root' && exec \"\$@\"" sh "${run[@]}") || fail "the single file failed $how"
else
  how="with the .NET installation still visible (unshare not allowed here)"
  (cd "$work" && "${run[@]}") || fail "the single file failed"
fi
[ -f "$work/cache/xdit/"demo-*/model_index.json ] || fail "the demo model was not unpacked into the cache"
"$repo/xdit" "${args[@]:0:${#args[@]}-1}" "$work/repo.png"
cmp -s "$work/single.png" "$work/repo.png" || fail "the single file's picture differs from ./xdit generate's"
echo "publish check: $(basename "$bin") ($(stat -c %s "$bin") bytes) alone in an empty folder, $how, drew the demo picture ($(stat -c %s "$work/single.png") bytes, the same as ./xdit generate)"
