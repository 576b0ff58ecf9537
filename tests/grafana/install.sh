#!/usr/bin/env bash
# Installs Grafana's own frontend code for the unit tests into a cache outside git (default .lab/grafana-npm):
#   - the packages of package-lock.json (@grafana/data and what it loads), `npm ci --ignore-scripts`;
#   - from @grafana/prometheus (whose dependencies, monaco-editor and the like, are about 160 MB the test never
#     loads) only the files package.json lists under meshover.tarballs, from the tarball `npm pack` fetches,
#     checked against the integrity pinned there.
# Quiet and quick when the cache matches package.json, package-lock.json and .npmrc.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-$here/../../.lab/grafana-npm}
command -v node >/dev/null && command -v npm >/dev/null || {
  echo "grafana-deps: node and npm not found (make host-deps installs Debian's nodejs and npm)" >&2
  exit 1
}
# @grafana/data's CommonJS build require()s ES modules (marked): Node.js 20.19 or newer loads them, Debian 12's
# nodejs 18 fails with ERR_REQUIRE_ESM (measured). Say so here rather than in a test's stack trace.
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' || {
  echo "grafana-deps: Node.js $(node --version) is too old: 20.19 or newer is needed (Debian 13's nodejs, or NodeSource's)" >&2
  exit 1
}
stamp=$(cat "$here/package.json" "$here/package-lock.json" "$here/.npmrc" | sha256sum | cut -c1-16)
if [ "$(cat "$cache/.stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
mkdir -p "$cache"
cp "$here/package.json" "$here/package-lock.json" "$here/.npmrc" "$cache/"
start=$(date +%s)
(cd "$cache" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
rm -rf "$cache/tarballs" && mkdir -p "$cache/tarballs"
node - "$cache" <<'JS'
const { execFileSync } = require("child_process");
const path = require("path");
const cache = process.argv[2];
const tarballs = require(path.join(cache, "package.json")).meshover.tarballs;
for (const [name, pin] of Object.entries(tarballs)) {
  const dest = path.join(cache, "tarballs", name);
  require("fs").mkdirSync(dest, { recursive: true });
  const out = execFileSync("npm", ["pack", `${name}@${pin.version}`, "--json", "--pack-destination", dest], {
    encoding: "utf8", stdio: ["ignore", "pipe", "inherit"],
  });
  const info = JSON.parse(out)[0];
  if (info.integrity !== pin.integrity) {
    throw new Error(`${name}@${pin.version}: integrity ${info.integrity}, package.json pins ${pin.integrity}`);
  }
  execFileSync("tar", ["-xzf", path.join(dest, info.filename), "-C", dest, ...pin.files]);
}
JS
echo "$stamp" >"$cache/.stamp"
echo "grafana-deps: $(du -sh "$cache" | cut -f1) in $cache, $(($(date +%s) - start)) s"
