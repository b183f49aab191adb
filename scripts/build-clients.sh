#!/usr/bin/env bash
# Builds and tests the browser side so it cannot rot: the @gazepipe/client package (npm ci, tsc build, unit
# tests, and a check that the demo bundle committed in src/gazepipe/static/demo matches its sources), then the
# Next.js example (npm ci, which copies the freshly built client in, and next build).
# Needs Node.js >= 20.9 and the npm registry. Run from anywhere: scripts/build-clients.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export NEXT_TELEMETRY_DISABLED=1 npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

command -v npm >/dev/null || { echo "build-clients: npm not found (install Node.js >= 20.9)" >&2; exit 1; }

step() { echo "== build-clients: $*"; }
started=$SECONDS

step "clients/typescript: npm ci, build, unit tests, demo bundle check"
(
    cd clients/typescript
    npm ci
    npm run build
    npm test
    npm run check:demo
)

step "examples/nextjs: npm ci, next build"
(
    cd examples/nextjs
    npm ci
    npx --no-install next build
)

step "done in $((SECONDS - started)) s"
