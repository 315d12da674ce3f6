"""Alert rules on the live windows: evaluation at every minute step, notifications (e-mail and
webhooks that never reach inside the house), history. It reads the windows the pipeline keeps and
never changes them; it does not render reports.
"""
