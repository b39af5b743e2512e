#!/usr/bin/env bash
# Debian packages the system and its tests use, installed only when missing (one list for
# `make up` and `.ci/run`): PDF text and rendering (poppler-utils), fonts for Vietnamese
# documents, Tesseract with its Vietnamese model for OCR extraction, Chromium for the
# dashboard's browser test (driven by the playwright package, no browser download).
set -euo pipefail
need=()
command -v pdftotext >/dev/null || need+=(poppler-utils)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v tesseract >/dev/null || need+=(tesseract-ocr)
[ -n "$(find /usr/share -path '*tessdata/vie.traineddata' -print -quit 2>/dev/null)" ] \
  || need+=(tesseract-ocr-vie)
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
