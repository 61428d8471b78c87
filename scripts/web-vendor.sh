#!/usr/bin/env bash
# web-vendor.sh — refreshes the uPlot files the daemon embeds (web/uPlot.*)
# from the package web/package-lock.json locks: `npm ci` in web/, then a copy
# of uPlot's release files. Run it after changing uPlot's version in
# web/package.json (`cd web && npm install --omit-lockfile-registry-resolved
# uplot@VERSION`), and commit the lockfile with the three files; the build
# itself never runs npm (web/web.am), and tests/extra-web.sh fails while the
# committed files differ from the locked package.
set -euo pipefail
web=$(cd "$(dirname "$0")/../web" && pwd)
cd "$web"
npm ci --no-audit --no-fund
cp node_modules/uplot/dist/uPlot.iife.min.js uPlot.iife.min.js
cp node_modules/uplot/dist/uPlot.min.css uPlot.min.css
cp node_modules/uplot/LICENSE uPlot.LICENSE
echo "web/uPlot.*: uPlot $(node -p 'require("./node_modules/uplot/package.json").version')"
