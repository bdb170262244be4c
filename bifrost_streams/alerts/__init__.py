"""Alerts: which results raise one (rule), how many may leave (throttle), the
digest of those held back (digest), Slack's Block Kit (blocks) and webhook (slack), and the
order of it all (dispatch). agents/alerts.py runs them on notification.alert.
"""
