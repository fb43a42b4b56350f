#!/usr/bin/env bash
# What CI runs for the VS Code extension: install, test, package, check the package.
set -euo pipefail
cd "$(dirname "$0")"

npm ci --no-audit --no-fund
npm test
npm run package

# The .vsix must carry the bundle and the manifest, and nothing from node_modules or src.
python3 - <<'PY'
import sys, zipfile
names = set(zipfile.ZipFile("gemma-review.vsix").namelist())
needed = {"extension/dist/extension.js", "extension/package.json", "extension/readme.md", "extension/LICENSE.txt"}
missing = sorted(needed - names)
extra = sorted(n for n in names if n.startswith("extension/") and n not in needed)
if missing or extra:
    sys.exit(f"gemma-review.vsix: missing {missing}, unexpected {extra}")
print(f"gemma-review.vsix holds {', '.join(sorted(needed))}")
PY
