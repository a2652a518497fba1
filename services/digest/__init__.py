"""Digest: the weekly summary by e-mail, the weekly paper printout, and the forecast."""
