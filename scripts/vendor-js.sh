#!/usr/bin/env bash
# Re-vendor the web app's JavaScript from the npm registry (a maintainer's step, not part of the
# build): fetch the pinned tarballs with `npm pack`, check their SHA-256 against vendored.json,
# and copy the files and licences it names into src/moneytrail/web/static/vendor/.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=src/moneytrail/web/static/vendor
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 - "$dest/vendored.json" > "$tmp/plan" <<'PY'
import json, sys
for p in json.load(open(sys.argv[1]))["packages"]:
    print(p["name"], p["version"], p["tarball_sha256"], p["licence_file"],
          " ".join(f"{k}={v['from']}" for k, v in p["files"].items()))
PY
while read -r name version sha licence files; do
  (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null)
  tgz="$tmp/${name//\//-}-$version.tgz"
  echo "$sha  $tgz" | sha256sum -c --quiet
  mkdir -p "$tmp/$name" && tar xzf "$tgz" -C "$tmp/$name"
  cp "$tmp/$name/package/LICENSE" "$dest/$licence"
  for f in $files; do cp "$tmp/$name/${f#*=}" "$dest/${f%%=*}"; done
  echo "vendored $name@$version"
done < "$tmp/plan"
