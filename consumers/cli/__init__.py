"""The `cdrflow` command: `main` builds the parser from one module per command group (worker, feed,
report, sql, custom, live, alert, schedule) and runs the chosen command. Commands ask the running
worker's API, or work on the warehouse folder when none runs (consumers.worker); they hold no
report logic of their own.
"""
