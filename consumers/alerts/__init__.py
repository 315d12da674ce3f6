"""Alert rules on the live windows: evaluation at every minute step, notifications, history."""
