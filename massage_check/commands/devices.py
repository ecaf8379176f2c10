"""`massage-check devices`: the audio devices PortAudio sees, to pick a microphone and speaker."""
from __future__ import annotations

import argparse
import json

from massage_check.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("devices", help="list microphones and speakers (for voice_mic_device / voice_speaker_device)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from voice.sources import AudioUnavailable, input_devices

    try:
        devices = input_devices()
    except AudioUnavailable as exc:
        raise UserError(str(exc)) from None
    if args.json:
        print(json.dumps(devices, indent=2))
        return 0
    if not devices:
        print("No audio devices found (PortAudio lists none). Check `arecord -l` / `aplay -l`; "
              "without a sound card use `massage-check demo` or `massage-check run --audio-in FILE.wav`.")
        return 1
    print(f"{'#':>3}  {'in':>3} {'out':>3}  {'rate':>6}  name")
    for d in devices:
        mark = " (default input)" if d["default_input"] else ""
        mark += " (default output)" if d["default_output"] else ""
        print(f"{d['index']:>3}  {d['inputs']:>3} {d['outputs']:>3}  {int(d['default_samplerate']):>6}  "
              f"{d['name']}{mark}")
    print("\nChoose one by index or name in your config file: voice_mic_device, voice_speaker_device.")
    return 0
