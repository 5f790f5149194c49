# Build, test and run XDit on Windows/PowerShell (same commands as build.sh).
#   ./build.ps1          restore and build everything (Release)
#   ./build.ps1 test     build, then run the test suite
#   ./build.ps1 bench    build and run the BenchmarkDotNet suites (extra arguments go to BenchmarkDotNet)
#   ./build.ps1 pack     the library's NuGet packages into artifacts/packages (the package test is bash: build.sh pack)
#   ./build.ps1 publish  one self-contained xdit.exe (carrying the demo model) into artifacts/publish/RID/
param([string]$Command = "build", [Parameter(ValueFromRemainingArguments = $true)][string[]]$Rest)
$ErrorActionPreference = "Stop"
Set-Location $PSScriptRoot
$env:DOTNET_CLI_TELEMETRY_OPTOUT = "1"; $env:DOTNET_NOLOGO = "1"
function Build { dotnet build XDit.sln -c Release -nologo -v quiet; if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE } }
switch ($Command) {
  "build" { Build }
  "test" {
    Build
    $log = dotnet tests/XDit.Tests/bin/Release/net10.0/XDit.Tests.dll -noColor @Rest | Tee-Object -Variable lines
    $code = $LASTEXITCODE
    $summary = ($lines | Select-String 'Total: (\d+), Errors: (\d+), Failed: (\d+), Skipped: (\d+)' | Select-Object -Last 1).Matches[0].Groups
    $total = [int]$summary[1].Value; $errors = [int]$summary[2].Value; $failed = [int]$summary[3].Value; $skipped = [int]$summary[4].Value
    Write-Output "$($total - $failed - $skipped) passed, $($failed + $errors) failed, $skipped skipped"
    if ($total -eq 0) { Write-Output "no test ran"; exit 1 }
    exit $code
  }
  "bench" { dotnet run --project bench/XDit.Bench -c Release -- @Rest }
  "pack" {
    Remove-Item -Recurse -Force artifacts/packages -ErrorAction SilentlyContinue
    foreach ($p in "Runtime", "Kernels", "Models", "Comm", "Engine", "DemoModel") {
      dotnet pack "src/$p/XDit.$p.csproj" -c Release -nologo -v quiet -o artifacts/packages -p:ContinuousIntegrationBuild=true
      if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    }
  }
  "publish" {
    $rid = if ($Rest.Count -gt 0) { $Rest[0] } else { "win-x64" }
    dotnet publish src/Cli/XDit.Cli.csproj -c Release -r $rid --self-contained -nologo -v quiet -o "artifacts/publish/$rid" `
      -p:PublishSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=true -p:EnableCompressionInSingleFile=true `
      -p:XditEmbedDemoModel=true -p:DebugType=none
    exit $LASTEXITCODE
  }
  default { Write-Error "usage: ./build.ps1 [build|test|bench|pack|publish [RID]]"; exit 2 }
}
