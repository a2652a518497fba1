"""Notifier: every consented recipient told once, within the 24-hour deadline."""
