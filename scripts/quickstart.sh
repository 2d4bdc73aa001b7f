#!/usr/bin/env bash
# The main job on the embedded defaults: start a key broker, attest with the sample TEE and
# fetch a secret, printing each step. Installs and builds whatever is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
BIN="$PWD/build/bin"
WORK=$(mktemp -d /tmp/coco-quickstart.XXXXXX)
KBS_PID=""
cleanup() {
  if [ -n "$KBS_PID" ] && kill -0 "$KBS_PID" 2>/dev/null; then
    kill -TERM "$KBS_PID"; wait "$KBS_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "1. Initialise the broker: database, token signing key, admin key pair and admin token"
"$BIN/coco-kbs" init --data-dir "$WORK/kbs"

step "2. Start coco-kbs in development mode (the sample TEE is accepted; production refuses it)"
"$BIN/coco-kbs" --data-dir "$WORK/kbs" --listen 127.0.0.1:0 --port-file "$WORK/port" --dev \
  2> "$WORK/kbs.log" &
KBS_PID=$!
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
[ -s "$WORK/port" ] || { cat "$WORK/kbs.log"; echo "coco-kbs did not start"; exit 1; }
URL="http://127.0.0.1:$(cat "$WORK/port")"
echo "coco-kbs pid $KBS_PID listening on $URL (log: broker warnings below)"
grep -i "development" "$WORK/kbs.log" | head -1 || true
ADMIN=("$BIN/coco" kbs --url "$URL" --admin-token "$WORK/kbs/admin-token")

step "3. Register reference values for the sample TEE (what a trustworthy guest reports)"
"${ADMIN[@]}" set-reference-value launch_digest abcde
"${ADMIN[@]}" set-reference-value svn 1
"${ADMIN[@]}" set-reference-value major_version 1 --as-integer --as-single-value
"${ADMIN[@]}" set-reference-value minimum_minor_version 4 --as-integer --as-single-value

step "4. Store a secret in the broker at kbs:///default/key/quickstart"
printf 'the secret only an attested guest may read' | "${ADMIN[@]}" set-resource default/key/quickstart -

step "5. Attest as a guest (sample TEE): auth -> challenge -> evidence -> EAR token"
TOKEN=$("$BIN/coco" attest --url "$URL")
python3 - "$TOKEN" <<'PY'
import base64, json, sys
p = sys.argv[1].split(".")[1]
claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
cpu0 = claims["submods"]["cpu0"]
print("token status:", cpu0["ear.status"])
print("trust vector:", json.dumps(cpu0["ear.trustworthiness-vector"]))
PY

step "6. Fetch the secret: the broker encrypts it to the guest's key (JWE), the guest decrypts"
SECRET=$("$BIN/coco" get-resource --url "$URL" kbs:///default/key/quickstart)
echo "secret: $SECRET"

step "7. Stop the broker"
kill -TERM "$KBS_PID"; wait "$KBS_PID"; KBS_PID=""
echo "done: the sample TEE attested, the policy graded it affirming, and the secret was released."
