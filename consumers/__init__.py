"""What people use: web (API, console), reports, schedules, mail, feed; the command line, the worker, the demo."""
