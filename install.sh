#!/bin/sh
# Installs massage-check on a fresh Debian / Raspberry Pi OS machine into ./.venv.
#   sh install.sh          runtime: system packages + the product
#   sh install.sh --dev    also what the tests and benchmarks need
# Safe to run again: it installs only what is missing.
set -eu
cd "$(dirname "$0")"

DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

# Runtime: espeak-ng (pyttsx3's Linux driver), PortAudio (sounddevice), aplay.
APT="python3-venv python3-pip espeak-ng libespeak-ng1 libportaudio2 alsa-utils"
# Tests: a virtual microphone (PulseAudio null sink), sox for audio checks,
# a second synthesiser (flite) for voices the model never trained on,
# headless Chromium + its WebDriver for the staff review page tests,
# festival + its English voices (lexicon and training speakers of `python -m models.build`).
DEV_APT="sox pulseaudio pulseaudio-utils libasound2-plugins flite chromium chromium-driver festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"
[ "$DEV" = 1 ] && APT="$APT $DEV_APT"

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

missing=""
for p in $APT; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "install.sh: installing system packages:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if [ "$DEV" = 1 ]; then
    .venv/bin/python -m pip install -q -e ".[test,train]"
else
    .venv/bin/python -m pip install -q -e .
fi
echo "install.sh: ready. Try: .venv/bin/massage-check --help"
