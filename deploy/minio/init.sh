#!/bin/sh
# The documents' bucket and digitization's own user, allowed only that bucket (read, write,
# list: services/digitization/storage.py's S3Store needs no more). Run by the one-shot
# `minio-init` service of docker-compose.yml once MinIO is healthy. Safe to run again: the
# bucket is kept, the policy and the user's secret are set to the ones given.
set -eu

: "${S3_URL:?}" "${S3_ROOT_USER:?}" "${S3_ROOT_PASSWORD:?}"
: "${DOCUMENTS_BUCKET:?}" "${DOCUMENTS_USER:?}" "${DOCUMENTS_PASSWORD:?}"
POLICY=onestop-documents

mc alias set store "$S3_URL" "$S3_ROOT_USER" "$S3_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "store/$DOCUMENTS_BUCKET"

cat > /tmp/policy.json <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
     "Resource": ["arn:aws:s3:::$DOCUMENTS_BUCKET/*"]},
    {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
     "Resource": ["arn:aws:s3:::$DOCUMENTS_BUCKET"]}
  ]
}
JSON
mc admin policy create store "$POLICY" /tmp/policy.json
mc admin user add store "$DOCUMENTS_USER" "$DOCUMENTS_PASSWORD"
if ! out=$(mc admin policy attach store "$POLICY" --user "$DOCUMENTS_USER" 2>&1); then
    case "$out" in
        *already*) ;;
        *) echo "$out" >&2; exit 1 ;;
    esac
fi
echo "bucket $DOCUMENTS_BUCKET and its user ready"
