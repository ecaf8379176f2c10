"""Errors the CLI turns into one clear line and an exit code (no traceback)."""


class UserError(Exception):
    """A problem the user can fix: bad file, missing model, no microphone...

    `exit_code` is the status the CLI exits with: 2, or 78 (EX_CONFIG) for a bad config file
    (config.ConfigError), which the kiosk's systemd unit does not restart on.
    """

    exit_code = 2
