"""Test doubles for the host side: fake devices that speak the wire protocol over TCP."""
