#!/usr/bin/env bash
# The main job on the embedded defaults: the whole confidential-containers story on this machine.
# A key broker (coco-kbs, dev mode) and an OCI registry run on 127.0.0.1; a sample image is
# built, encrypted (its key goes into the broker) and signed (the signature policy and the public
# key go into the broker too); then `coco run` boots a pod VM whose agent attests, receives the
# key and the policy, pulls, verifies, decrypts and unpacks the image and runs it. A second pod
# runs an image that was encrypted beforehand with a key the operator uploaded, and a third pod's
# workload fetches a secret from the broker itself. Each step is printed. Installs and builds whatever is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
# Installs what is missing and builds (the first run also builds the guest kernel, 10-15 min):
# only the steps and the progress lines are shown.
scripts/setup.sh | grep --line-buffered -E '^==>|^    |error|FAILED|warning: '
BIN="$PWD/build/bin"
WORK=$(mktemp -d /tmp/coco-quickstart.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then kill -TERM "$p"; wait "$p" 2>/dev/null || true; fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

step "1. Start the key broker (coco-kbs, development mode: the sample TEE is accepted)"
"$BIN/coco-kbs" init --data-dir "$WORK/kbs" >/dev/null
"$BIN/coco-kbs" --data-dir "$WORK/kbs" --listen 127.0.0.1:0 --port-file "$WORK/port" --dev \
  2> "$WORK/kbs.log" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
[ -s "$WORK/port" ] || { cat "$WORK/kbs.log"; echo "coco-kbs did not start"; exit 1; }
KBS="http://127.0.0.1:$(cat "$WORK/port")"
ADMIN=("$BIN/coco" kbs --kbs "$KBS" --admin-token "$WORK/kbs/admin-token")
"${ADMIN[@]}" set-reference-value launch_digest abcde
"${ADMIN[@]}" set-reference-value svn 1
"${ADMIN[@]}" set-reference-value major_version 1 --as-integer --as-single-value
"${ADMIN[@]}" set-reference-value minimum_minor_version 4 --as-integer --as-single-value
echo "coco-kbs on $KBS, reference values for the sample TEE registered"

step "2. Start a local OCI registry (docker-registry)"
REG_PORT=$(free_port)
mkdir -p "$WORK/registry"
cat > "$WORK/registry/config.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $WORK/registry/data}}
http: {addr: 127.0.0.1:$REG_PORT}
YML
/usr/bin/docker-registry serve "$WORK/registry/config.yml" > "$WORK/registry.log" 2>&1 &
PIDS+=($!)
REG="127.0.0.1:$REG_PORT"
for _ in $(seq 100); do curl -sf "http://$REG/v2/" >/dev/null && break; sleep 0.1; done
curl -sf "http://$REG/v2/" >/dev/null || {
  cat "$WORK/registry.log"; echo "the registry (docker-registry) did not come up on $REG"; exit 1; }
echo "registry on $REG"

step "3. Build a sample image and push it"
scripts/make-sample-image.py "$WORK/layout" v1 "hello from a confidential container"
skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$WORK/layout:v1" \
  "docker://$REG/demo/app:plain"
echo "pushed docker://$REG/demo/app:plain"

step "4. Encrypt it: a fresh key-encryption key is stored in the broker, the image names it"
"$BIN/coco" image encrypt "docker://$REG/demo/app:plain" "docker://$REG/demo/app:encrypted" \
  --recipient provider:coco:kbs:///default/image-kek/demo --kbs "$KBS" \
  --admin-token "$WORK/kbs/admin-token"

step "5. Sign it (cosign key), and store the signature policy and the public key in the broker"
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/cosign.key" 2>/dev/null
openssl ec -in "$WORK/cosign.key" -pubout -out "$WORK/cosign.pub" 2>/dev/null
"$BIN/coco" image sign "docker://$REG/demo/app:encrypted" --cosign-key "$WORK/cosign.key"
"${ADMIN[@]}" set-resource default/keys/cosign "$WORK/cosign.pub"
cat > "$WORK/policy.json" <<JSON
{"default": [{"type": "reject"}],
 "transports": {"docker": {"$REG/demo": [
   {"type": "sigstoreSigned", "keyPath": "kbs:///default/keys/cosign"}]}}}
JSON
"${ADMIN[@]}" set-resource default/security-policy/demo "$WORK/policy.json"
echo "policy kbs:///default/security-policy/demo: images under $REG/demo must carry a cosign signature"

step "6. Run it in a pod VM: attest -> key and policy released -> pull, verify, decrypt -> run"
"$BIN/coco" run --kbs "$KBS" --policy kbs:///default/security-policy/demo --timings \
  "docker://$REG/demo/app:encrypted"

step "7. A pre-existing encrypted image: encrypted earlier with the operator's own key"
head -c 32 /dev/urandom > "$WORK/operator-kek.bin"
"$BIN/coco" image encrypt "docker://$REG/demo/app:plain" "docker://$REG/demo/legacy:encrypted" \
  --recipient "provider:coco:kbs:///default/image-kek/legacy::keypath=$WORK/operator-kek.bin"
"$BIN/coco" image sign "docker://$REG/demo/legacy:encrypted" --cosign-key "$WORK/cosign.key"
echo "the operator uploads that key to the broker:"
"${ADMIN[@]}" set-resource default/image-kek/legacy "$WORK/operator-kek.bin"
"$BIN/coco" run --kbs "$KBS" --policy kbs:///default/security-policy/demo \
  "docker://$REG/demo/legacy:encrypted"

step "8. The workload asks for a secret itself (CoCo's resource API on 127.0.0.1:8006 in the pod)"
echo "a database password for the app" > "$WORK/db-password"
"${ADMIN[@]}" set-resource default/app/db-password "$WORK/db-password"
"$BIN/coco" run -q --kbs "$KBS" --policy kbs:///default/security-policy/demo \
  "docker://$REG/demo/legacy:encrypted" /bin/sh -c \
  'echo "the app got: $(busybox wget -q -O - http://127.0.0.1:8006/cdh/resource/default/app/db-password)"'

step "Done"
echo "Every pod attested to the broker, got its image key, signature policy and secrets only"
echo "after that, and ran its container inside the VM. Stopping the broker and the registry."
