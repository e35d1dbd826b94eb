"""Test doubles for the outside world (fake Messages API, callback receiver) and a real worker process."""
