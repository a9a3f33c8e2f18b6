"""Exceptions with messages meant for users: each names the file, column, key or library."""

from __future__ import annotations


class GpuMcError(Exception):
    """Base class of every error gpu_mc raises on purpose; the CLI prints it on one line."""


class BackendError(GpuMcError):
    """The requested compute backend cannot be used on this machine."""


class ConfigError(GpuMcError):
    """A configuration file or value is invalid; the message names the field."""


class InputError(GpuMcError):
    """An input file or table is unusable; the message names the file and column."""


class ModelError(GpuMcError):
    """A saved model is missing, corrupt or does not match the requested features."""
