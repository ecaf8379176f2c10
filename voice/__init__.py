"""The voice loop: microphone -> recognizer -> dialog -> speaker.

- `sources`: where audio comes from (sounddevice microphone, WAV file) + half duplex
- `recognizer`, `modelset`: libvosk, restricted to the answers the dialog expects
- `listener`: one listening turn with endpointing tuned for short answers
- `speaker`: espeak-ng/pyttsx3 synthesis played through sounddevice, printed if impossible
- `loop`: sessions and the kiosk (idle -> start phrase -> session -> idle)
- `app`: building all of it from the config; `patient`, `virtual_audio`: synthetic
  patients and a PulseAudio virtual sound card for the demo, tests and benchmark
"""
