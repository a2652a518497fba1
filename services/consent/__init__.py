"""Consent: who may be told what, on which channel, with proof (152-FZ)."""
