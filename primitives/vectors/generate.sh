#!/usr/bin/env bash
# Regenerates vectors/hashes.json with Foundry's `cast`, an implementation independent of this
# crate, so the Rust tests (tests/it/vectors.rs) and the Solidity tests
# (contracts/test/PrimitivesVectors.t.sol) check themselves against a third party.
# Usage: primitives/vectors/generate.sh   (after ./scripts/setup)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cast="$here/../../node_modules/.bin/cast"
[ -x "$cast" ] || { echo "cast is not installed: run ./scripts/setup" >&2; exit 1; }

u256() { "$cast" to-uint256 "$1"; }
k() { "$cast" keccak "$1"; }
eip191_prefix=0x$(printf '\x19Ethereum Signed Message:\n32' | od -An -tx1 | tr -d ' \n')

cases=(
  "0x1111111111111111111111111111111111111111111111111111111111111111 0 0 0x7777777777777777777777777777777777777777 {\"answer\":42}"
  "0x0000000000000000000000000000000000000000000000000000000000000000 1 7 0x0000000000000000000000000000000000000000 "
  "0xdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef 115792089237316195423570985008687907853269984665640564039457584007913129639935 4294967296 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 [1,2,3]"
)

{
  echo '{'
  echo '  "generator": "primitives/vectors/generate.sh (Foundry cast)",'
  echo '  "cases": ['
  n=${#cases[@]}
  for i in "${!cases[@]}"; do
    read -r request nonce index worker result <<<"${cases[$i]}"
    result=${result:-}
    deal=$(k "$("$cast" concat-hex "$request" "$(u256 "$nonce")")")
    task=$(k "$("$cast" concat-hex "$deal" "$(u256 "$index")")")
    inner=$("$cast" keccak "$result")
    [ -n "$result" ] || inner=$(k 0x)
    # The digest is bound to its task: keccak256(taskId ‖ keccak256(result bytes)).
    digest=$(k "$("$cast" concat-hex "$task" "$inner")")
    worker_lc=$(echo "$worker" | tr 'A-F' 'a-f')
    rhash=$(k "$("$cast" concat-hex "$task" "$digest")")
    seal=$(k "$("$cast" concat-hex "$worker_lc" "$task" "$digest")")
    authmsg=$(k "$("$cast" concat-hex "$worker_lc" "$task")")
    # EIP-191 over the 32 message bytes (not over their hex text): "\x19Ethereum Signed Message:\n32" ‖ msg.
    authdigest=$(k "$("$cast" concat-hex "$eip191_prefix" "$authmsg")")
    result_hex=$("$cast" from-utf8 "$result")
    [ -n "$result" ] || result_hex=0x
    sep=','; [ "$i" -eq $((n - 1)) ] && sep=''
    cat <<JSON
    {
      "requestHash": "$request",
      "nonce": "$nonce",
      "index": $index,
      "worker": "$worker",
      "resultBytes": "$result_hex",
      "dealId": "$deal",
      "taskId": "$task",
      "resultDigest": "$digest",
      "resultHash": "$rhash",
      "resultSeal": "$seal",
      "authorizationMessage": "$authmsg",
      "authorizationDigest": "$authdigest"
    }$sep
JSON
  done
  echo '  ]'
  echo '}'
} >"$here/hashes.json"
echo "wrote $here/hashes.json"
