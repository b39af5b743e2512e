#!/bin/sh
# Each provincial system of services/intake/province_systems.yaml as a SASL/SCRAM principal
# (User:<system id>) allowed exactly this: write onestop.ingest.v1, read its feedback
# onestop.ingest.rejected.v1 with consumer groups named after itself. Nothing else: the
# broker runs StandardAuthorizer with allow.everyone.if.no.acl.found=false.
#
# Run by the one-shot `kafka-principals` service of docker-compose.yml after the broker is
# healthy, over the internal PLAINTEXT listener (its ANONYMOUS principal is the super user:
# only the services on the compose network reach it). Safe to run again: a password is
# reset to the one given, an ACL already present is kept.
#
#   ONESTOP_PROVINCE_PASSWORDS="hanoi-mcdt=<secret> hcm-mcdt=<secret> laichau-mcdt=<secret>"
#
# tests/contract/test_province_principals.py parses the `principal` and `acl` lines below
# and checks them against province_systems.yaml: add a system there, add its block here.
set -eu

BIN="${KAFKA_BIN:-/opt/kafka/bin}"
BOOTSTRAP="${KAFKA_BOOTSTRAP:-kafka:9092}"

password_of() {
    for pair in ${ONESTOP_PROVINCE_PASSWORDS:?set ONESTOP_PROVINCE_PASSWORDS}; do
        if [ "${pair%%=*}" = "$1" ]; then printf '%s' "${pair#*=}"; return 0; fi
    done
    echo "no password for $1 in ONESTOP_PROVINCE_PASSWORDS" >&2
    return 1
}

principal() {  # principal SYSTEM_ID: its SCRAM-SHA-512 credential
    secret=$(password_of "$1")
    "$BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP" --alter --entity-type users \
        --entity-name "$1" --add-config "SCRAM-SHA-512=[iterations=8192,password=$secret]"
}

acl() {  # acl SYSTEM_ID OPERATION RESOURCE NAME [PATTERN]: one allow rule
    "$BIN/kafka-acls.sh" --bootstrap-server "$BOOTSTRAP" --add \
        --allow-principal "User:$1" --operation "$2" "--$3" "$4" \
        --resource-pattern-type "${5:-literal}"
}

principal hanoi-mcdt
acl hanoi-mcdt Write topic onestop.ingest.v1
acl hanoi-mcdt Read topic onestop.ingest.rejected.v1
acl hanoi-mcdt Read group hanoi-mcdt prefixed

principal hcm-mcdt
acl hcm-mcdt Write topic onestop.ingest.v1
acl hcm-mcdt Read topic onestop.ingest.rejected.v1
acl hcm-mcdt Read group hcm-mcdt prefixed

principal laichau-mcdt
acl laichau-mcdt Write topic onestop.ingest.v1
acl laichau-mcdt Read topic onestop.ingest.rejected.v1
acl laichau-mcdt Read group laichau-mcdt prefixed

echo "province principals and ACLs applied"
