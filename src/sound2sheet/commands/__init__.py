"""Implementations behind the CLI's subcommands (imported lazily by :mod:`sound2sheet.cli`)."""
