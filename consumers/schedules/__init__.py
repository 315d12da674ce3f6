"""Scheduled reports: the schedule, its store, the runner that renders and mails a period, and the
leader's timer. It runs reports through consumers.reports and mails through consumers.mail; it
never builds SQL of its own.
"""
