#!/usr/bin/env bash
# Makes development certificates for config/mtls.yaml: a CA, a server certificate for
# `localhost` / 127.0.0.1 (also usable as a client certificate: with
# `tls.internode.server.requireClientAuth`, cluster nodes present it to each other), and client
# certificates whose CNs config/mtls.yaml maps to roles
# (`writer`, `reader`, `worker`). For development only: the keys are not protected.
#   bash config/mtls-certs.sh [output-dir]     # default: config/mtls-certs
# Then:
#   sundial start --config config/mtls.yaml
#   temporal workflow list --address 127.0.0.1:7233 --tls-ca-path config/mtls-certs/ca.pem \
#     --tls-cert-path config/mtls-certs/writer.pem --tls-key-path config/mtls-certs/writer.key \
#     --tls-server-name localhost
# Running it again makes new certificates; a server with `refreshInterval` picks up the new
# server certificate without a restart (clients need the new CA too, since it changed).
set -euo pipefail
out="${1:-$(dirname "$0")/mtls-certs}"
days="${DAYS:-365}"
mkdir -p "$out"
cd "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key ca.key
openssl req -x509 -new -key ca.key -sha256 -days "$days" -subj "/O=Sundial development/CN=Sundial development CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out ca.pem

# issue NAME SUBJECT EXTENSIONS
issue() {
  key "$1.key"
  openssl req -new -key "$1.key" -subj "$2" -out "$work/$1.csr"
  printf '%s\n' "$3" > "$work/$1.ext"
  openssl x509 -req -in "$work/$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 \
    -days "$days" -extfile "$work/$1.ext" -out "$1.pem" 2>/dev/null
}

issue server "/O=Sundial development/CN=localhost" \
  "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth,clientAuth
keyUsage=critical,digitalSignature"
for cn in writer reader worker; do
  issue "$cn" "/O=Sundial development/OU=clients/CN=$cn" \
    "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
done
rm -f ca.srl
chmod 600 ./*.key
echo "certificates in $(pwd): ca.pem, server.pem/.key, writer/reader/worker.pem/.key"
