"""Reports as people ask for them: requests from the command line and the API, rendering (table,
CSV, XLSX, HTML, JSON), date words, custom reports. It builds no SQL (queries/ does) and knows
nothing of schedules, alerts or HTTP.
"""
