"""The worker's HTTP doors: the reports API, live and alert views, the report console (its static
files and npm libraries), the worker's health and metrics pages, and the ClickHouse-compatible
SQL port. Views parse requests and render answers; they hold no report logic of their own and
never open a warehouse connection (they ask reports, schedules, alerts and sql).
"""
