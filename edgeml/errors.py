"""The one exception type for problems the user can fix."""


class EdgeMLError(Exception):
    """Bad input, missing files, unsupported options: the CLI prints the message on one line and exits 1."""


class TrainingInterrupted(EdgeMLError):
    """Ctrl-C during fit; the message says whether a usable checkpoint was kept."""
