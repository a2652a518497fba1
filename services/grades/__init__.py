"""Grades: the electronic journal's data exchange; every accepted change becomes an event."""
