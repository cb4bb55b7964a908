#!/usr/bin/env bash
# Static analysis of the Bicep infrastructure (infra/) with checkov.
#
# checkov pins many packages, so it lives in a virtualenv of its own (.venv-checkov), apart
# from the app's. Fails (non-zero) when checkov reports any failed check, when it could not
# parse a .bicep file (checkov itself only counts those as "parsing errors" and exits 0), or
# when it could not run at all.
#
# Suppressions are inline in the .bicep files, inside the resource they concern, each with its
# reason: // checkov:skip=CKV_AZURE_NN: why.
#
#   bash .ci/checkov.sh
#   CHECKOV_VERSION=3.3.30 CHECKOV_VENV=/tmp/ck bash .ci/checkov.sh
set -euo pipefail

cd "$(dirname "$0")/.."
VENV="${CHECKOV_VENV:-.venv-checkov}"
VERSION="${CHECKOV_VERSION:-3.3.30}"
PY="${PYTHON:-python3}"

start=$(date +%s)
if ! "$VENV/bin/python" -m pip show checkov 2>/dev/null | grep -qx "Version: $VERSION"; then
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$VERSION"
fi
ready=$(date +%s)
echo "checkov $("$VENV/bin/checkov" --version) ready in $((ready - start)) s"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# --skip-download: no call to the Prisma Cloud platform (offline, deterministic).
# -o cli to the console, -o json to a file for the summary check below.
status=0
"$VENV/bin/checkov" -d infra --framework bicep --quiet --compact --skip-download \
    -o cli -o json --output-file-path "console,$out/results.json" || status=$?

summary=$("$VENV/bin/python" - "$out/results.json" <<'PY'
import json, sys
try:
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
except (OSError, ValueError) as exc:
    print(f"no checkov JSON report: {exc}")
    sys.exit(1)
reports = doc if isinstance(doc, list) else [doc]
s = {k: sum(r["summary"].get(k, 0) for r in reports) for k in ("passed", "failed", "skipped", "parsing_errors", "resource_count")}
print("passed={passed} failed={failed} skipped={skipped} parsing_errors={parsing_errors} resources={resource_count}".format(**s))
sys.exit(1 if s["failed"] or s["parsing_errors"] or not s["resource_count"] else 0)
PY
) || { [ "$status" -ne 0 ] || status=1; }
end=$(date +%s)
echo "checkov summary: $summary"
echo "checkov run took $((end - ready)) s; exit $status"
exit "$status"
