"""The error every request raises when it cannot be answered: reports, schedules, alert rules and
live queries alike (the command line exits 2 with it, the API answers 400)."""


class ReportError(ValueError):
    """A request that cannot be answered; the message is safe to show to the user."""
