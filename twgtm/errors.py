"""The one family of errors raised by twgtm: each message says what was wrong, what was
expected and what to do."""


class TWGTMError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(TWGTMError, ValueError):
    """A configuration, preset or argument is unknown or inconsistent."""


class InputError(TWGTMError, ValueError):
    """An image, mask or tensor given by the caller has the wrong size, range or content."""


class CheckpointError(TWGTMError):
    """A weights file is missing, corrupt, of another model, or has mismatched keys."""


class DataError(TWGTMError):
    """A data set folder or file is missing or malformed."""


class MetricUnavailable(TWGTMError):
    """A metric cannot run because the weights it needs were not given."""


class SamplingCancelled(TWGTMError):
    """Sampling stopped early: the callback returned False or raised, or the cancel flag was set."""


class OutOfMemory(TWGTMError, MemoryError):
    """A sampling run did not fit into the device's memory even on the last rung of the fallback ladder."""


class UnsupportedTask(ConfigError):
    """A pipeline was asked for a task (a verb) its model family cannot do."""
