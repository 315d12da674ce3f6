"""What people use, one package per concern: web (API, console, SQL port), reports, schedules,
alerts, mail, feed, sql; below them what several share (`store`); on top the command line, the
worker's starter and the demo. Imports point down only (tests/test_floors.py).
"""
