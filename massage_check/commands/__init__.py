"""Sub-commands of the massage-check CLI."""
